"""Training throughput: tuneyard's recipe against TRL's SFTTrainer, same model, data and dtype.

    .venv/bin/pip install -e '.[bench]'      # TRL, pinned with torch by constraints.txt
    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_throughput.py [--chats 600] [--epochs 1]

One process trains tiny-chat (the built-in 3.3M-parameter Llama) with LoRA (or `--method
full`) on the same long-tailed single-turn chats, in fp32, with the same hyperparameters
(batch 8, max length 1024, learning rate, linear schedule, no warm-up, AdamW, gradient
clipping at 1.0, seed 42, LoRA r=8/alpha=16/dropout 0 on all linear layers), three ways:

  (a) TRL `SFTTrainer` with its defaults except the dtype (fp32: the default bf16 is
      emulated on a CPU without bf16 units), so with its default gradient checkpointing
      and padded batches;
  (b) TRL as a careful user tunes it: `packing=True` (padding-free, position ids per
      example) and no gradient checkpointing;
  (c) tuneyard's recipe (`tuneyard.trainer.recipe.run`).

Both TRL runs learn only the replies (prompt-completion data), as tuneyard does. It prints
real (non-padding) tokens trained per second, the loss of each tuned model on the same 60
held-out chats (one evaluation function for all three), this CPU's fp32 matmul GFLOP/s,
tuneyard's model-FLOPs utilisation (4·N FLOPs per token for LoRA, 6·N for full, N the
model's parameters), how far tuneyard's ETA was from the real remaining time once 10% of
the run had passed, and last `ratio: N.NN` = tuneyard ÷ the faster TRL run. Timings cover
the training loop only (model loading and tokenising excluded) for all three, which run in
one process with the glibc allocator settings tuneyard's workers use (ALLOCATOR_ENV).
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
from tuneyard.basemodels import tinychat  # noqa: E402
from tuneyard.core import jobs  # noqa: E402
from tuneyard.datasets.examples import Example, Message  # noqa: E402
from tuneyard.trainer import data, model, recipe, report  # noqa: E402

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


def matmul_gflops() -> float:
    """This CPU's fp32 matmul rate: 2048³ products for 2 s, the fastest of them.

    A shared machine's speed drifts, so it is measured before and after the runs and the
    higher figure is used: the MFU it gives can only be understated."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best, until = math.inf, time.perf_counter() + 2.0
    while time.perf_counter() < until:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


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
        base_model=jobs.BaseModelRef("tiny-chat", "tiny-chat", str(base)),
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
    }


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
        bf16=False,
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
    return {"seconds": seconds, "net": trainer.model, "train_loss": result.training_loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=600, help="training chats (default 600)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs (default 1)")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    parser.add_argument("--method", choices=("lora", "full"), default="lora")
    parser.add_argument(
        "--only", choices=("tuneyard", "trl-default", "trl-packed"), action="append"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="tuneyard-bench-"))
    base = tinychat.ensure_built(work / "tiny-chat")
    tokenizer = model.load_tokenizer(base)
    train, held_out = chats(args.chats, seed=1), chats(60, seed=2)
    lengths = [len(f.input_ids) for f in data.tokenise_generation(train, tokenizer, 1024)]
    tokens = sum(lengths) * args.epochs
    n_params = sum(
        p.numel() for p in transformers.AutoModelForCausalLM.from_pretrained(base).parameters()
    )
    print(
        f"data: {len(train)} chats, {sum(lengths)} tokens per epoch, lengths "
        f"min {min(lengths)} median {sorted(lengths)[len(lengths) // 2]} max {max(lengths)}; "
        f"model: tiny-chat, {n_params:,} parameters, {args.method}, fp32, {args.epochs} epoch(s); "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )
    gflops = matmul_gflops()
    print(f"cpu fp32 matmul: {gflops:.1f} GFLOP/s", flush=True)
    runs = {
        "trl-default": lambda out: run_trl(args, base, train, out, careful=False),
        "trl-packed": lambda out: run_trl(args, base, train, out, careful=True),
        "tuneyard": lambda out: run_tuneyard(args, base, train, out),
    }
    results: dict[str, dict[str, Any]] = {}
    for name, runner in runs.items():
        if args.only and name not in args.only:
            continue
        result = runner(work / name)
        result["tokens_per_s"] = tokens / result["seconds"]
        result["held_out_loss"] = held_out_loss(result.pop("net"), tokenizer, held_out)
        results[name] = result
        print(
            f"{name:12s} {result['tokens_per_s']:8.0f} tokens/s  {result['seconds']:7.1f} s  "
            f"held-out loss {result['held_out_loss']:.4f}",
            flush=True,
        )
    ours = results.get("tuneyard")
    trl_runs = [r for n, r in results.items() if n != "tuneyard"]
    if ours is None:
        return
    after = matmul_gflops()
    print(f"cpu fp32 matmul after the runs: {after:.1f} GFLOP/s", flush=True)
    gflops = max(gflops, after)
    flops_per_token = (4 if args.method == "lora" else 6) * n_params
    mfu = ours["tokens_per_s"] * flops_per_token / (gflops * 1e9)
    print(f"tuneyard MFU: {100 * mfu:.1f}% ({flops_per_token / 1e6:.1f} MFLOP/token)")
    if ours["eta_max_error"] is not None:
        print(
            f"tuneyard ETA: first shown {ours['eta_first_after_s']:.1f} s into the loop; "
            f"worst error after 10% of the run {100 * ours['eta_max_error']:.1f}% "
            "of the real remaining time"
        )
    if trl_runs:
        best = max(trl_runs, key=lambda r: r["tokens_per_s"])
        gap = ours["held_out_loss"] / best["held_out_loss"] - 1
        print(f"held-out loss vs the faster TRL run: {100 * gap:+.2f}%")
        print(f"ratio: {ours['tokens_per_s'] / best['tokens_per_s']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
