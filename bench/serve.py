"""Serve many adapters of tiny-chat at once: tuneyard's engine against a careful baseline.

    .venv/bin/python bench/serve.py [--clients 16] [--adapters 4] [--tokens 64] [--rounds 2]
                                    [--threads 1] [--device cpu]

`--clients` streaming clients, spread over `--adapters` LoRA adapters of tiny-chat (random
B matrices of std `--lora-scale`), each send `--rounds` requests one after the other (the
next when the previous ended), each asking for `--tokens` tokens at temperature 0. All
clients start together. Replies end at the end token, so they are shorter than asked; the
output line says how long they were on average.

tuneyard: the inference worker (`python -m tuneyard.serving`, a real process) is driven
over its protocol, every request a streaming one: time to first token is measured from
sending the request to its first `token` line, inter-token time between its `token` lines.

Baseline (in this process, the same torch thread count): what a careful user writes
without tuneyard — one `PeftModel` holding every adapter, switched with `set_adapter`;
whenever it is free it takes every pending request of the adapter whose oldest request
waited longest and runs them as one left-padded batch through `generate`, a streamer
timing each step. Both sides produce the same greedy tokens, so output tokens/s compare
like for like.

Prints per side: output tokens/s, time to first token p50/p99, inter-token p99, RSS (and
for tuneyard the RSS growth per extra loaded adapter against the adapter's file size);
last line `ratio: N.NN` (tuneyard ÷ baseline output tokens/s).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.serving import random_lora  # noqa: E402
from tuneyard.basemodels import tinychat  # noqa: E402
from tuneyard.serving import protocol  # noqa: E402

PROMPTS = [
    "Write a Python docstring for a function that merges two sorted lists.",
    "Repeat: lantern",
    "Explain what a context manager is.",
    "Upper-case: benchmark",
    "List three colours.",
    "Write a Python docstring for a retry decorator.",
    "Translate to French: good morning",
    "What is 12+30?",
]


@dataclasses.dataclass
class Timing:
    """When one request was sent and when each of its tokens arrived."""

    sent: float
    arrivals: list[float] = dataclasses.field(default_factory=list)
    tokens: int = 0


@dataclasses.dataclass
class Result:
    """One side's numbers."""

    name: str
    seconds: float
    timings: list[Timing]
    rss: int
    extra: str = ""

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.timings)

    def line(self) -> str:
        ttft = [1000 * (t.arrivals[0] - t.sent) for t in self.timings if t.arrivals]
        gaps = [
            1000 * (b - a)
            for t in self.timings
            for a, b in zip(t.arrivals, t.arrivals[1:], strict=False)
        ]
        return (
            f"{self.name}: {self.tokens} tokens in {self.seconds:.2f} s = "
            f"{self.tokens / self.seconds:.1f} tokens/s; "
            f"TTFT p50 {percentile(ttft, 50):.1f} ms p99 {percentile(ttft, 99):.1f} ms; "
            f"inter-token p99 {percentile(gaps, 99):.1f} ms; RSS {self.rss / 2**20:.0f} MiB"
            f"{self.extra}"
        )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def messages(client: int, round_: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPTS[(client + 3 * round_) % len(PROMPTS)]}]


# -- tuneyard ---------------------------------------------------------------------------


class Worker:
    """The inference worker process and a thread reading its events with their time."""

    def __init__(self, args: argparse.Namespace, adapters: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tuneyard.serving",
                "--threads",
                str(args.threads),
                "--max-loaded-adapters",
                str(max(1, adapters)),
                "--device",
                args.device,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.events: queue.Queue[tuple[float, protocol.Event]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put((time.perf_counter(), protocol.decode_event(line)))

    def send(self, request: protocol.Request) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(protocol.encode(request) + "\n")
        self.process.stdin.flush()

    def wait_done(self, request_id: str) -> None:
        while True:
            _, event = self.events.get(timeout=300)
            if event.id == request_id and isinstance(event, protocol.Done | protocol.Error):
                if isinstance(event, protocol.Error):
                    raise RuntimeError(event.message)
                return

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def close(self) -> None:
        self.send(protocol.Shutdown())
        self.process.wait(30)


def run_tuneyard(args: argparse.Namespace, base: Path, adapters: list[Path]) -> Result:
    worker = Worker(args, len(adapters))
    try:
        # warm up: the base alone, then each adapter once (measuring RSS as they load)
        worker.send(request("warm", base, None, messages(0, 0), args.tokens))
        worker.wait_done("warm")
        before = worker.rss()
        for i, adapter in enumerate(adapters):
            worker.send(request(f"warm{i}", base, adapter, messages(i, 0), args.tokens))
            worker.wait_done(f"warm{i}")
        grown = (worker.rss() - before) / max(1, len(adapters))
        size = (adapters[0] / "adapter_model.safetensors").stat().st_size
        timings: dict[str, Timing] = {}
        rounds = dict.fromkeys(range(args.clients), 0)
        started = time.perf_counter()
        for client in range(args.clients):
            send_next(worker, timings, client, 0, base, adapters, args)
        finished = 0
        while finished < args.clients * args.rounds:
            at, event = worker.events.get(timeout=300)
            timing = timings.get(event.id)
            if timing is None:
                continue
            if isinstance(event, protocol.Token):
                timing.arrivals.append(at)
            elif isinstance(event, protocol.Done):
                timing.tokens = event.completion_tokens
                finished += 1
                client = int(event.id.split("-")[0][1:])
                rounds[client] += 1
                if rounds[client] < args.rounds:
                    send_next(worker, timings, client, rounds[client], base, adapters, args)
            elif isinstance(event, protocol.Error):
                raise RuntimeError(event.message)
        seconds = time.perf_counter() - started
        extra = (
            f"; +{grown / 2**20:.2f} MiB RSS per loaded adapter "
            f"(adapter file {size / 2**20:.2f} MiB, ratio {grown / size:.2f})"
        )
        return Result("tuneyard", seconds, list(timings.values()), worker.rss(), extra)
    finally:
        worker.close()


def request(
    request_id: str, base: Path, adapter: Path | None, chat: list[dict[str, str]], tokens: int
) -> protocol.Generate:
    return protocol.Generate(
        id=request_id,
        target=protocol.Target(base=str(base), adapter=str(adapter) if adapter else None),
        messages=tuple(chat),
        sampling=protocol.Sampling(max_tokens=tokens, temperature=0.0),
    )


def send_next(
    worker: Worker,
    timings: dict[str, Timing],
    client: int,
    round_: int,
    base: Path,
    adapters: list[Path],
    args: argparse.Namespace,
) -> None:
    request_id = f"c{client}-{round_}"
    adapter = adapters[client % len(adapters)]
    timings[request_id] = Timing(time.perf_counter())
    worker.send(request(request_id, base, adapter, messages(client, round_), args.tokens))


# -- the baseline -------------------------------------------------------------------------


def run_baseline(args: argparse.Namespace, base: Path, adapters: list[Path]) -> Result:
    import peft
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    rss_before = psutil.Process().memory_info().rss
    tokenizer = transformers.AutoTokenizer.from_pretrained(adapters[0])
    tokenizer.padding_side = "left"
    net = transformers.AutoModelForCausalLM.from_pretrained(base).to(args.device).eval()
    model = peft.PeftModel.from_pretrained(net, adapters[0], adapter_name="a0")
    for i, adapter in enumerate(adapters[1:], start=1):
        model.load_adapter(adapter, adapter_name=f"a{i}")
    model.eval()

    class Steps(transformers.generation.streamers.BaseStreamer):  # type: ignore[misc]
        def __init__(self, batch: list[Timing]) -> None:
            self.batch = batch
            self.first = True

        def put(self, value: Any) -> None:
            if self.first:  # generate hands the prompt over first
                self.first = False
                return
            now = time.perf_counter()
            for timing in self.batch:
                timing.arrivals.append(now)

        def end(self) -> None:
            pass

    def run_batch(adapter: int, batch: list[tuple[int, int, Timing]]) -> None:
        model.set_adapter(f"a{adapter}")
        texts = [
            tokenizer.apply_chat_template(
                messages(c, r), tokenize=False, add_generation_prompt=True
            )
            for c, r, _ in batch
        ]
        encoded = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
        encoded = encoded.to(args.device)
        with torch.no_grad():
            output = model.generate(
                **encoded,
                max_new_tokens=args.tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                streamer=Steps([t for _, _, t in batch]),
            )
        new = output[:, encoded["input_ids"].shape[1] :]
        for (_, _, timing), row in zip(batch, new.tolist(), strict=True):
            produced = 0
            for token in row:
                produced += 1
                if token == tokenizer.eos_token_id:
                    break
            timing.tokens = produced
            del timing.arrivals[produced:]

    # warm up once per adapter
    for i in range(len(adapters)):
        run_batch(i, [(i, 0, Timing(time.perf_counter()))])
    pending: list[tuple[int, int, Timing]] = []
    started = time.perf_counter()
    for client in range(args.clients):
        pending.append((client, 0, Timing(started)))
    timings: list[Timing] = []
    while pending:
        oldest = min(pending, key=lambda p: p[2].sent)
        adapter = oldest[0] % len(adapters)
        batch = [p for p in pending if p[0] % len(adapters) == adapter]
        pending = [p for p in pending if p[0] % len(adapters) != adapter]
        run_batch(adapter, batch)
        now = time.perf_counter()
        for client, round_, timing in batch:
            timings.append(timing)
            if round_ + 1 < args.rounds:
                pending.append((client, round_ + 1, Timing(now)))
    seconds = time.perf_counter() - started
    rss = psutil.Process().memory_info().rss - rss_before
    return Result("baseline", seconds, timings, rss, " (growth of this process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--adapters", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--lora-scale",
        type=float,
        default=0.5,
        help="std of the random LoRA B matrices: at 0.5 replies run near the tokens asked "
        "for (tiny-chat's own replies to these prompts are short)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="tuneyard-bench-serve-") as tmp:
        root = Path(tmp)
        base = tinychat.ensure_built(root / "tiny-chat")
        adapters = [
            random_lora(base, root / f"adapter-{i}", i + 1, scale=args.lora_scale)
            for i in range(args.adapters)
        ]
        print(
            f"{args.clients} clients × {args.rounds} requests of {args.tokens} tokens over "
            f"{args.adapters} adapters of tiny-chat, {args.threads} thread(s), {args.device}",
            flush=True,
        )
        ours = run_tuneyard(args, base, adapters)
        print(ours.line(), flush=True)
        theirs = run_baseline(args, base, adapters)
        print(theirs.line(), flush=True)
        print(
            f"output tokens: tuneyard {ours.tokens}, baseline {theirs.tokens} "
            f"({ours.tokens / len(ours.timings):.1f} a reply of {args.tokens} asked)"
        )
        print(f"ratio: {ours.tokens / ours.seconds / (theirs.tokens / theirs.seconds):.2f}")


if __name__ == "__main__":
    main()
