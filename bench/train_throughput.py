"""Training throughput: tuneyard's recipe against TRL's SFTTrainer, same model, data and dtype.

    .venv/bin/pip install -e '.[bench]'      # TRL, pinned with torch by constraints.txt
    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_throughput.py [--model tiny-chat|small]
        [--chats N] [--epochs 1] [--method lora|full] [--eta-runs 3]

One process trains a model with LoRA (or `--method full`) on the same long-tailed
single-turn chats, with the same hyperparameters (batch 8, max length 1024, learning rate,
linear schedule, no warm-up, AdamW, gradient clipping at 1.0, seed 42, LoRA r=8/alpha=16/
dropout 0 on all linear layers), three ways:

  (a) TRL `SFTTrainer` with its defaults, so with its default gradient checkpointing and
      padded batches, and its default `bf16=True` only on a CPU with native bf16 (AMX or
      AVX512-BF16; elsewhere bf16 is emulated, ~15× slower, so it runs fp32);
  (b) TRL as a careful user tunes it: `packing=True` (padding-free, position ids per
      example) and no gradient checkpointing;
  (c) tuneyard's recipe (`tuneyard.trainer.recipe.run`), `--eta-runs` times (its own
      precision choice: fp32, or bf16 autocast where native bf16 measured faster).

The model is tiny-chat (the built-in 3.3M-parameter Llama, hidden 256) or `--model small`
(`tuneyard.basemodels.small`: 27M parameters, hidden 512, random weights, built once into
a cache folder). Both TRL runs learn only the replies (prompt-completion data), as tuneyard
does. It prints real (non-padding) tokens trained per second, the loss of each tuned model
on the same 60 held-out chats (one evaluation function for all), this CPU's matmul GFLOP/s
(2048³, the peak MFU is counted against, for the dtype each run used) and at the model's own
GEMM shapes, and two model-FLOPs utilisations per run: 4·N FLOPs per token for LoRA (6·N
for full, N the model's parameters), and PaLM's count (`tuneyard.trainer.flops`: weight
GEMMs, LoRA without the frozen weights' gradients, attention per example over its own
length, the output head on the learnt positions) from the real batch shapes. Then how far
tuneyard's ETA was from the real remaining time once 10% of the run had passed (worst
error of each run, their median, and the loop's speed per tenth of the run), and last
`ratio: N.NN` = tuneyard (the median run) ÷ the faster TRL run. Timings cover the training
loop only (model loading and tokenising excluded), in one process with the glibc allocator
settings tuneyard's workers use (ALLOCATOR_ENV).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuneyard.scheduler.executors import local  # imports no torch

if any(os.environ.get(k) != v for k, v in local.ALLOCATOR_ENV.items()):
    # the allocator settings tuneyard's workers run with, for all three runs alike
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **local.ALLOCATOR_ENV})

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

import torch  # noqa: E402
import transformers  # noqa: E402

from tuneyard import kinds  # noqa: E402
from tuneyard.basemodels import small, tinychat  # noqa: E402
from tuneyard.core import jobs  # noqa: E402
from tuneyard.datasets.examples import Example, Message  # noqa: E402
from tuneyard.trainer import data, flops, model, precision, recipe, report  # noqa: E402

WORDS = [
    *("river", "stone", "cloud", "apple", "seven", "orange", "window", "garden", "yellow"),
    *("silver", "tiger", "paper", "music", "winter", "summer", "bridge", "forest", "candle"),
    *("mirror", "rocket", "planet", "violet", "copper", "marble"),
]


def chats(count: int, seed: int) -> list[Example]:
    """Single-turn chats whose lengths follow a long tail, like real chat data."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        n = max(2, min(120, int(rng.lognormvariate(2.6, 0.8))))
        words = [rng.choice(WORDS) for _ in range(n)]
        reply_words = list(reversed(words))[: max(2, min(150, int(rng.lognormvariate(2.9, 0.8))))]
        result.append(
            Example(
                (
                    Message("user", "Reverse these words: " + " ".join(words)),
                    Message("assistant", " ".join(reply_words).capitalize() + "."),
                )
            )
        )
    return result


_TORCH_DTYPE = {"fp32": "float32", "bf16": "bfloat16"}


def matmul_gflops(dtype: torch.dtype = torch.float32) -> float:
    """This CPU's matmul rate in `dtype`: 2048³ products for 2 s, the fastest of them.

    A shared machine's speed drifts, so it is measured before and after the runs and the
    higher figure is used: the MFU it gives can only be understated."""
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    a @ b
    best, until = math.inf, time.perf_counter() + 2.0
    while time.perf_counter() < until:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


def shape_gflops(
    arch: flops.Architecture, rows: int, method: str, dtype: torch.dtype = torch.float32
) -> float:
    """The matmul rate at the model's own weight GEMMs in `dtype`: each layer's linears with
    `rows` tokens, forward (x·Wᵀ) and input gradient (dy·W), and the weight gradient
    (dyᵀ·x) for full fine-tuning, weighted by their FLOPs. The best any engine can do on
    the weight GEMMs of this model, at this micro-batch size."""
    total_flops = total_s = 0.0
    for _, n_in, n_out in arch.linears():
        shapes = [(rows, n_in, n_out), (rows, n_out, n_in)]
        if method == "full":
            shapes.append((n_out, rows, n_in))
        for m, k, n in shapes:
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            a @ b
            best, until = math.inf, time.perf_counter() + 0.3
            while time.perf_counter() < until:
                start = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - start)
            total_flops += 2 * m * k * n
            total_s += best
    return total_flops / total_s / 1e9


def held_out_loss(net: Any, tokenizer: Any, examples: Sequence[Example]) -> float:
    """Mean loss per reply token, one example at a time, plain HF forward (no packing)."""
    features = data.tokenise_generation(examples, tokenizer, 1024)
    total, count = 0.0, 0
    net.eval()
    with torch.no_grad():
        for f in features:
            assert isinstance(f.labels, list)
            ids = torch.tensor([f.input_ids])
            logits = net(input_ids=ids).logits[0, :-1]
            targets = torch.tensor(f.labels[1:])
            keep = targets != data.IGNORE_INDEX
            total += torch.nn.functional.cross_entropy(
                logits[keep], targets[keep], reduction="sum"
            ).item()
            count += int(keep.sum())
    return total / count


class Timestamped(io.StringIO):
    """A stream that records when each protocol line was written."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[float, dict[str, Any]]] = []

    def write(self, text: str) -> int:
        now = time.perf_counter()
        for line in text.splitlines():
            if line.strip():
                self.lines.append((now, json.loads(line)))
        return len(text)


def run_tuneyard(
    args: argparse.Namespace, base: Path, train: list[Example], out: Path
) -> dict[str, Any]:
    """One tuneyard run; its loop time, tuned model, dtype, ETA errors and speed per tenth."""
    hp = jobs.Hyperparameters(
        n_epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=8,
        max_seq_len=1024,
        lora_rank=8,
        lora_alpha=16,
        lora_dropout=0.0,
        seed=42,
        validation_split=0.0,
        eval_samples=0,
    )
    spec = jobs.TrainingSpec(
        job_id="bench",
        task_type=kinds.TaskType.GENERATION,
        method=kinds.Method(args.method),
        base_model=(
            jobs.BaseModelRef("tiny-chat", "tiny-chat", str(base))
            if args.model == "tiny-chat"
            else jobs.BaseModelRef(args.model, "path", str(base))
        ),
        dataset_path=str(out / "unused"),
        dataset_filename="train.jsonl",
        hyperparameters=hp,
        output_dir=str(out / "output"),
        work_dir=str(out),
    )
    stream = Timestamped()
    original = data.load_examples
    data.load_examples = lambda spec: list(train)  # type: ignore[assignment]
    try:
        recipe.run(spec, report.Reporter(stream), lambda: False)
    finally:
        data.load_examples = original  # type: ignore[assignment]
    events = stream.lines
    start = next(t for t, e in events if e["event"] == "data")
    end = max(t for t, e in events if e["event"] in ("checkpoint", "epoch"))
    progress = [(t, e) for t, e in events if e["event"] == "progress"]
    errors = [
        abs(e["remaining_s"] - (end - t)) / (end - t)
        for t, e in progress
        if e.get("remaining_s") is not None and t - start >= 0.1 * (end - start) and end - t > 1.0
    ]
    first_eta = next((t for t, e in progress if e.get("remaining_s") is not None), None)
    data_event = next(e for _, e in events if e["event"] == "data")
    windows = _rate_per_window([(t - start, e["trained_tokens"]) for t, e in progress], 10)
    base_net = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if args.method == "lora":
        import peft

        tuned = peft.PeftModel.from_pretrained(base_net, out / "output")
    else:
        tuned = transformers.AutoModelForCausalLM.from_pretrained(out / "output")
    return {
        "seconds": end - start,
        "net": tuned,
        "eta_max_error": max(errors) if errors else None,
        "eta_first_after_s": None if first_eta is None else first_eta - start,
        "dtype": data_event.get("precision", "fp32"),
        "windows": windows,
    }


def _rate_per_window(points: list[tuple[float, int]], count: int) -> list[float]:
    """Tokens/s in each of `count` equal time windows of the loop, from (seconds into the
    loop, tokens trained by then) progress points."""
    if len(points) < 2:
        return []
    end = points[-1][0]
    rates = []
    for w in range(count):
        lo, hi = end * w / count, end * (w + 1) / count
        inside = [p for p in points if lo <= p[0] <= hi]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            rates.append((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]))
    return rates


def run_trl(
    args: argparse.Namespace, base: Path, train: list[Example], out: Path, *, careful: bool
) -> dict[str, Any]:
    import datasets
    import peft
    import trl

    rows = [
        {
            "prompt": [{"role": m.role, "content": m.content} for m in e.messages[:-1]],
            "completion": [{"role": "assistant", "content": e.messages[-1].content}],
        }
        for e in train
    ]
    config = trl.SFTConfig(
        output_dir=str(out),
        bf16=args.native_bf16,  # TRL's default (True) where bf16 is native; emulated: fp32
        use_cpu=True,  # what transformers asks for before it trains bf16 on a CPU
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        per_device_train_batch_size=8,
        max_length=1024,
        lr_scheduler_type="linear",
        seed=42,
        save_strategy="no",
        report_to=[],
        logging_steps=10_000,
        disable_tqdm=True,
        **({"packing": True, "gradient_checkpointing": False} if careful else {}),
    )
    net = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    tokenizer = model.load_tokenizer(base)
    peft_config = (
        peft.LoraConfig(
            r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
        )
        if args.method == "lora"
        else None
    )
    trainer = trl.SFTTrainer(
        model=net,
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "net": trainer.model.float(),
        "train_loss": result.training_loss,
        "dtype": "bf16" if args.native_bf16 else "fp32",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("tiny-chat", "small"), default="tiny-chat")
    parser.add_argument(
        "--chats", type=int, help="training chats (default 600 for tiny-chat, 200 for small)"
    )
    parser.add_argument("--epochs", type=int, default=1, help="epochs (default 1)")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    parser.add_argument("--method", choices=("lora", "full"), default="lora")
    parser.add_argument(
        "--eta-runs", type=int, default=3, help="tuneyard runs; ETA error is their median"
    )
    parser.add_argument(
        "--only", choices=("tuneyard", "trl-default", "trl-packed"), action="append"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.native_bf16 = precision.native_bf16()
    chats_count = args.chats or (600 if args.model == "tiny-chat" else 200)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="tuneyard-bench-"))
    if args.model == "tiny-chat":
        base = tinychat.ensure_built(work / "tiny-chat")
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        base = small.ensure_built(cache / "tuneyard-bench" / small.NAME)
    tokenizer = model.load_tokenizer(base)
    train, held_out = chats(chats_count, seed=1), chats(60, seed=2)
    features = data.tokenise_generation(train, tokenizer, 1024)
    lengths = [len(f.input_ids) for f in features]
    tokens = sum(lengths) * args.epochs
    base_net = transformers.AutoModelForCausalLM.from_pretrained(base)
    n_params = sum(p.numel() for p in base_net.parameters())
    arch = flops.Architecture.of(base_net.config)
    del base_net
    palm = flops.training(
        arch,
        [flops.Example(f.length, f.n_targets) for f in features],
        method=args.method,
        lora_rank=8,
    )
    palm_total = palm.total * args.epochs
    cpu = _cpu_name()
    print(
        f"data: {len(train)} chats, {sum(lengths)} tokens per epoch, lengths "
        f"min {min(lengths)} median {sorted(lengths)[len(lengths) // 2]} max {max(lengths)}; "
        f"model: {args.model}, {n_params:,} parameters (hidden {arch.hidden}, "
        f"{arch.layers} layers), {args.method}, {args.epochs} epoch(s); "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )
    print(
        f"cpu: {cpu}; native bf16: {'yes' if args.native_bf16 else 'no (bf16 emulated)'}; "
        f"load average {_load()}",
        flush=True,
    )
    peaks = {"fp32": matmul_gflops(torch.float32)}
    if args.native_bf16:
        peaks["bf16"] = matmul_gflops(torch.bfloat16)
    print(
        "cpu matmul 2048³: " + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in peaks.items()),
        flush=True,
    )
    rows = round(sum(lengths) / math.ceil(len(lengths) / 8))  # tokens per micro-batch of 8
    at_shapes = {
        d: shape_gflops(arch, rows, args.method, getattr(torch, _TORCH_DTYPE[d])) for d in peaks
    }
    print(
        f"cpu matmul at the model's weight GEMMs ({rows} rows, hidden {arch.hidden}): "
        + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in at_shapes.items()),
        flush=True,
    )
    simple = (4 if args.method == "lora" else 6) * n_params
    print(
        f"model FLOPs per token: {simple / 1e6:.1f} M (4·N/6·N); PaLM count "
        f"{palm.total / palm.tokens / 1e6:.1f} M (weights {palm.weights / palm.total:.0%}, "
        f"LoRA {palm.adapters / palm.total:.0%}, attention {palm.attention / palm.total:.0%}, "
        f"head {palm.head / palm.total:.0%})",
        flush=True,
    )
    runs = {
        "trl-default": lambda out: run_trl(args, base, train, out, careful=False),
        "trl-packed": lambda out: run_trl(args, base, train, out, careful=True),
    }
    for i in range(1, max(1, args.eta_runs) + 1):
        runs[f"tuneyard-{i}"] = lambda out: run_tuneyard(args, base, train, out)
    results: dict[str, dict[str, Any]] = {}
    for name, runner in runs.items():
        kind = "tuneyard" if name.startswith("tuneyard") else name
        if args.only and kind not in args.only:
            continue
        result = runner(work / name)
        net = result.pop("net")
        result["tokens_per_s"] = tokens / result["seconds"]
        peak = peaks.get(result["dtype"], peaks["fp32"])
        result["mfu_simple"] = result["tokens_per_s"] * simple / (peak * 1e9)
        result["mfu_palm"] = palm_total / result["seconds"] / (peak * 1e9)
        if kind != "tuneyard" or name == "tuneyard-1":
            result["held_out_loss"] = held_out_loss(net, tokenizer, held_out)
        del net
        results[name] = result
        loss_text = (
            f"held-out loss {result['held_out_loss']:.4f}" if "held_out_loss" in result else ""
        )
        print(
            f"{name:12s} {result['tokens_per_s']:8.0f} tokens/s  {result['seconds']:7.1f} s  "
            f"{result['dtype']}  MFU {100 * result['mfu_simple']:.1f}% (4·N/6·N) "
            f"{100 * result['mfu_palm']:.1f}% (PaLM)  {loss_text}",
            flush=True,
        )
    ours_all = [r for n, r in results.items() if n.startswith("tuneyard")]
    trl_runs = [r for n, r in results.items() if not n.startswith("tuneyard")]
    if not ours_all:
        return
    after = {d: matmul_gflops(getattr(torch, _TORCH_DTYPE[d])) for d in peaks}
    print(
        "cpu matmul 2048³ after the runs: "
        + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in after.items())
        + f"; load average {_load()}",
        flush=True,
    )
    for d in peaks:
        if after[d] > peaks[d]:  # a higher peak lowers every MFU already printed
            for r in results.values():
                if r["dtype"] == d:
                    r["mfu_simple"] *= peaks[d] / after[d]
                    r["mfu_palm"] *= peaks[d] / after[d]
            peaks[d] = after[d]
    ours = sorted(ours_all, key=lambda r: r["tokens_per_s"])[len(ours_all) // 2]
    ours["held_out_loss"] = ours_all[0].get("held_out_loss")
    print(
        f"tuneyard (median of {len(ours_all)}): {ours['tokens_per_s']:.0f} tokens/s; MFU "
        f"{100 * ours['mfu_simple']:.1f}% on 4·N/6·N, {100 * ours['mfu_palm']:.1f}% on PaLM's "
        f"count, of the {ours['dtype']} matmul peak {peaks[ours['dtype']]:.1f} GFLOP/s; PaLM "
        f"FLOPs at {100 * palm_total / ours['seconds'] / (at_shapes[ours['dtype']] * 1e9):.1f}% "
        f"of the {ours['dtype']} matmul rate at the model's shapes"
    )
    eta = [r["eta_max_error"] for r in ours_all if r["eta_max_error"] is not None]
    if eta:
        print(
            f"tuneyard ETA: first shown {ours['eta_first_after_s']:.1f} s into the loop; "
            "worst error after 10% of the run "
            + ", ".join(f"{100 * e:.1f}%" for e in eta)
            + f" of the real remaining time; median {100 * sorted(eta)[len(eta) // 2]:.1f}%"
        )
        for i, r in enumerate(ours_all, start=1):
            if r["windows"]:
                mean = sum(r["windows"]) / len(r["windows"])
                print(
                    f"tuneyard-{i} tokens/s per tenth of the loop (÷ its mean): "
                    + " ".join(f"{w / mean:.2f}" for w in r["windows"])
                )
    if trl_runs:
        best = max(trl_runs, key=lambda r: r["tokens_per_s"])
        if ours["held_out_loss"] is not None:
            gap = ours["held_out_loss"] / best["held_out_loss"] - 1
            print(f"held-out loss vs the faster TRL run: {100 * gap:+.2f}%")
        print(f"ratio: {ours['tokens_per_s'] / best['tokens_per_s']:.2f}")


def _cpu_name() -> str:
    """The CPU's model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return f"{line.partition(':')[2].strip()} ×{os.cpu_count()}"
    except OSError:
        pass
    return "unknown"


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
