"""Pretrain tiny-chat: the script that made the weights shipped in `tiny_chat_weights/`.

    python -m tuneyard.basemodels.tinychat_pretrain --out /tmp/tiny-chat-pretrain

Starts from the seeded random initial weights (`tinychat.untrained`), trains every weight
on the corpus of `tinychat_corpus` (seed 0: dialogues of many task families plus the
standard library's docstrings) as one stream cut into `--seq-len` windows, with AdamW and a
warm-up + cosine schedule, in fp32 on the CPU (one thread per core). Deterministic: the same
arguments, torch build, CPU kind and thread count give the same weights (the defaults made
the shipped ones: 3,000 steps, about 40 minutes on 2 cores). It prints the loss as it goes,
checks greedy replies on fresh prompts of every family with the weights rounded to fp16,
and writes:

* `<out>/model/`: the Hugging Face folder (weights saved as fp16 safetensors), what ships;
* `<out>/step-NNNNN/`: the same every `--save-every` steps;
* `<out>/report.json`: arguments, corpus fingerprint, loss curve, per-family accuracy.

Copy `<out>/model/model.safetensors` to `tuneyard/basemodels/tiny_chat_weights/` and
update the model card there with the report. Needs torch (not imported by the server).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from tuneyard.basemodels import tinychat, tinychat_corpus

__all__ = ["encode", "exact_match", "main"]

_SPECIAL = {token: 256 + i for i, token in enumerate(tinychat.SPECIAL_TOKENS)}
_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in tinychat.SPECIAL_TOKENS) + ")")


def encode(text: str) -> list[int]:
    """tiny-chat's token ids for `text` (byte ids, markers 256..), without the tokenizer."""
    ids: list[int] = []
    for piece in _SPLIT.split(text):
        if piece in _SPECIAL:
            ids.append(_SPECIAL[piece])
        elif piece:
            ids.extend(piece.encode())
    return ids


def _batches(seed: int, batch: int, seq_len: int) -> Iterator[torch.Tensor]:
    """[batch, seq_len] windows of the corpus stream laid end to end."""
    stream = tinychat_corpus.documents(seed)
    buffer: list[int] = []
    need = batch * seq_len
    while True:
        while len(buffer) < need:
            buffer.extend(encode(next(stream)))
        yield torch.tensor(buffer[:need]).view(batch, seq_len)
        buffer = buffer[need:]


def _lr(step: int, *, peak: float, warmup: int, total: int, floor: float = 0.1) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def exact_match(
    model: Any, tokenizer: Any, prompts: list[tuple[str, str]], max_new: int = 24
) -> float:
    """Share of (user turn, reply) pairs answered exactly at temperature 0 (greedy), each
    prompt alone through the tokenizer's chat template, as a user of the model would."""
    was_training = model.training
    model.eval()
    right = 0
    for ask, reply in prompts:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": ask}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        out = model.generate(
            **inputs,
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        right += answer == reply
    model.train(was_training)
    return right / len(prompts)


def _family_accuracy(model: Any, tokenizer: Any, seed: int, per_family: int) -> dict[str, float]:
    rng = random.Random(seed)
    return {
        name: exact_match(model, tokenizer, [family(rng) for _ in range(per_family)])
        for name, family in sorted(tinychat_corpus.FAMILIES.items())
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for model and report")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16, help="windows per step")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument(
        "--save-every", type=int, default=500, help="checkpoint every N steps (0: only at the end)"
    )
    parser.add_argument("--eval-prompts", type=int, default=50, help="per family, at the end")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    tokenizer = tinychat.make_tokenizer()
    assert encode("<|user|>hé<|end|>") == tokenizer.encode("<|user|>hé<|end|>")
    model = tinychat.untrained(tokenizer)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": other, "weight_decay": 0},
        ],
        lr=args.lr,
        betas=(0.9, 0.95),
    )
    curve: list[dict[str, float]] = []
    started = time.monotonic()
    smoothed = 0.0
    batches = _batches(args.seed, args.batch, args.seq_len)
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, peak=args.lr, warmup=args.warmup, total=args.steps)
        window = next(batches)
        loss = model(input_ids=window, labels=window).loss  # shifted inside the model
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        smoothed = loss.item() if step == 0 else 0.98 * smoothed + 0.02 * loss.item()
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            elapsed = time.monotonic() - started
            tokens = (step + 1) * args.batch * args.seq_len
            curve.append({"step": step + 1, "loss": round(smoothed, 4), "tokens": tokens})
            print(
                f"step {step + 1}/{args.steps} loss {smoothed:.4f} "
                f"{tokens / elapsed:.0f} tok/s {elapsed:.0f}s",
                flush=True,
            )
        if args.save_every and (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            _save(model, tokenizer, args.out / f"step-{step + 1:05d}")
    elapsed = time.monotonic() - started
    _save(model, tokenizer, args.out / "model")
    model.load_state_dict(  # judge the weights as shipped: rounded to fp16
        {k: v.to(torch.float16).to(torch.float32) for k, v in model.state_dict().items()}
    )
    families = _family_accuracy(
        model, tokenizer, seed=10_000 + args.seed, per_family=args.eval_prompts
    )
    print("greedy exact-match per family:", json.dumps(families), flush=True)
    report = {
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": _cpu(),
        "corpus_fingerprint": tinychat_corpus.fingerprint(args.seed),
        "tokens_seen": args.steps * args.batch * args.seq_len,
        "seconds": round(elapsed),
        "final_loss": curve[-1]["loss"],
        "curve": curve,
        "family_accuracy": families,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _save(model: Any, tokenizer: Any, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    half = {  # lm_head is tied to the embeddings: saved once, as transformers does
        name: tensor.to(torch.float16)
        for name, tensor in model.state_dict().items()
        if name != "lm_head.weight"
    }
    model.save_pretrained(into, state_dict=half)
    tokenizer.save_pretrained(into)


if __name__ == "__main__":
    sys.exit(main())
