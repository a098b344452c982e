"""Measure this machine for the estimate: `python -m tuneyard.trainer.calibrate` prints a
`core.estimate.Machine` as JSON (in about 20 seconds; 35 with bf16).

It runs what a training step is made of, in the worker's own conditions (a fresh process
with torch, transformers and peft imported, the threads torch picks): fp32 GEMMs at a few
widths (and the same under bf16 autocast where the CPU has native bf16), causal attention
forward and backward at two lengths (its cost per length² and per call), a memory-bound
elementwise pass, the cost of dispatching one small operator, an AdamW step, the
resident memory of the process at rest, and then the trainer's own optimizer step on small
synthetic models (`trainer.probe`), whose time beyond what the rates above price is the
step's overhead per model family, method and dtype (`core.estimate.fit_overhead`).
`tuneyard.calibration` runs it once per machine and caches the result.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
from collections.abc import Callable

_START = time.perf_counter()

import peft  # noqa: E402,F401  (what a worker imports: its memory is part of the base)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402,F401

from tuneyard import calibration  # noqa: E402
from tuneyard.core import estimate, jobs  # noqa: E402
from tuneyard.kinds import Method  # noqa: E402
from tuneyard.trainer import precision, probe, recipe  # noqa: E402

__all__ = ["measure"]

_ROWS = 1024
_SIZES = (128, 256, 512, 1024, 2048)
_COLD_BYTES = 48 << 20
"""Operands one round of GEMM measurements goes through: more than a CPU's last-level cache."""
_PROBES = {
    False: ((1, 1, 192), (3, 1, 192), (3, 2, 256), (3, 8, 256)),
    True: ((1, 1, 256), (3, 1, 256), (3, 4, 128), (3, 16, 128)),
}
"""(layers, examples, tokens each) of the steps timed on the decoder (False) and the
encoder (True) probe models: two depths at one example, and the deeper one at 512 and
2,048 tokens, micro-batches' sizes in training. The one example is as long as the LoRA
layers need to be folded (`trainer.lora`: a call with fewer rows takes PEFT's own path,
which training steps do not). The cost per token is not the same at each size: a LoRA step
in bf16 on an AMD EPYC took 4.1 ms more from 32 to 512 tokens, then 11.6 ms more to 1,024
and 18.3 more to 2,048, as its tensors outgrew the caches."""


def _best(run: Callable[[], object], *, budget: float, repeat: int = 1) -> float:
    """Seconds of one `run`: the fastest of samples of `repeat` back-to-back runs (threads
    kept busy, as in a training step) taken for `budget` seconds, at least three."""
    run()
    best, samples, until = float("inf"), 0, time.perf_counter() + budget
    while samples < 3 or time.perf_counter() < until:
        start = time.perf_counter()
        for _ in range(repeat):
            run()
        best = min(best, (time.perf_counter() - start) / repeat)
        samples += 1
    return best


def _gemm(n: int, *, bf16: bool = False) -> float:
    """Seconds per FLOP of (rows × n)·(n × n), met as training meets it: each product on
    operands the cache has not just seen (a round of `_COLD_BYTES` of them; the same
    operands again and again ran 8–15% faster at n ≤ 256 on an AMD EPYC than a training
    step's GEMMs did)."""
    sets = max(2, _COLD_BYTES // ((_ROWS * n + n * n) * 4))
    operands = [(torch.randn(_ROWS, n), torch.randn(n, n)) for _ in range(sets)]

    def run() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for a, b in operands:
                a @ b  # under autocast the fp32 operands are cast first, as in training

    return _best(run, budget=0.1) / (2 * _ROWS * n * n * sets)


def _gemms(*, bf16: bool) -> tuple[tuple[int, float], ...]:
    """(n, seconds per FLOP) at each size: the better of two passes, apart (a neighbour's
    burst spoils one)."""
    first = [_gemm(n, bf16=bf16) for n in _SIZES]
    second = [_gemm(n, bf16=bf16) for n in _SIZES]
    return tuple((n, min(a, b)) for n, a, b in zip(_SIZES, first, second, strict=True))


def _attention(length: int, heads: int = 4, width: int = 64) -> float:
    q, k, v = (torch.randn(1, heads, length, width, requires_grad=True) for _ in range(3))

    def run() -> None:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.sum().backward()  # type: ignore[no-untyped-call]

    return _best(run, budget=0.15, repeat=max(1, 512 // length))


def _elementwise() -> float:
    x = torch.randn(2048, 512)
    return _best(lambda: torch.nn.functional.silu(x), budget=0.15, repeat=4) / (2 * x.numel() * 4)


def _dispatch() -> float:
    x = torch.ones(4)

    def run() -> None:
        for _ in range(200):
            x.add(1)

    return _best(run, budget=0.15) / 200


def _optimizer() -> float:
    """Seconds per parameter of a clipped AdamW step as the trainer takes it
    (`recipe.new_optimizer`), over what a model's parameters look like to it: an embedding
    matrix and ~100 weights, biases and norm scales, 16M parameters in all, more than a CPU's
    caches hold (one hot 1M tensor ran 2.2× faster per parameter than this on an AMD EPYC)."""
    shapes = [(4 << 20, 2)] + [(96 << 10, 1)] * 48 + [(256, 1)] * 48
    weights = [torch.nn.Parameter(torch.randn(n // rows, rows).squeeze(-1)) for n, rows in shapes]
    for weight in weights:
        weight.grad = torch.randn_like(weight)
    optimizer = recipe.new_optimizer(weights, jobs.Hyperparameters(learning_rate=1e-4))

    def run() -> None:
        torch.nn.utils.clip_grad_norm_(weights, 1.0)
        optimizer.step()

    return _best(run, budget=0.2) / sum(w.numel() for w in weights)


def _resident_peak() -> int:
    """This process's peak resident memory (VmHWM: ru_maxrss would carry the peak of the
    process that forked it across exec)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _memory() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory)
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(key: str) -> estimate.Machine:
    """This machine's rates (CPU: what the worker trains on without a GPU)."""
    startup = time.perf_counter() - _START
    cuda = torch.cuda.is_available()
    busy = calibration.busy_now()
    base = _resident_peak()
    short, long = 64, 512
    t_short = min(_attention(short), _attention(short))
    t_long = min(_attention(long), _attention(long))
    unit = 4 * 64
    per_unit = max(1e-15, (t_long - t_short) / (unit * (long**2 - short**2)))
    call = max(0.0, t_short - per_unit * unit * short**2)
    machine = estimate.Machine(
        key=key,
        device="cuda" if cuda else "cpu",
        memory_bytes=_memory(),
        gemm=_gemms(bf16=False),
        gemm_bf16=_gemms(bf16=True) if not cuda and precision.native_bf16() else (),
        attention_s=per_unit,
        attention_call_s=call,
        elementwise_s=_elementwise(),
        op_s=_dispatch(),
        optimizer_s=_optimizer(),
        base_bytes=base,
        startup_s=startup,
        busy=busy,
    )
    if cuda:
        return machine
    return dataclasses.replace(machine, overheads=_overheads(machine))


def _overheads(machine: estimate.Machine) -> dict[str, estimate.Overhead]:
    """A real step's cost beyond its FLOPs (`trainer.probe`), per model family, method and
    dtype the trainer may pick here (bf16 where measured native). Every probe is timed in
    two passes over them all, apart, and the faster kept: how the fit splits a step's cost
    between its terms moved with a neighbour's burst on a 2-core VM (one calibration fitted
    a LoRA layer 1.95 ms and the next, minutes later, 0.70 ms)."""
    kinds = [
        (encoder, method, bf16)
        for encoder in (False, True)
        for method in (Method.LORA, Method.FULL)
        for bf16 in ((False, True) if machine.gemm_bf16 else (False,))
    ]
    probes = [
        probe.Probe(encoder, method, bf16, layers, examples, length)
        for encoder, method, bf16 in kinds
        for layers, examples, length in _PROBES[encoder]
    ]
    with probe.ProbeModels() as models:
        first = [models.seconds(step) for step in probes]
        second = [models.seconds(step) for step in probes]
    timed = {step: min(a, b) for step, a, b in zip(probes, first, second, strict=True)}
    found = {}
    for encoder, method, bf16 in kinds:
        steps = [
            (p.work(), t)
            for p, t in timed.items()
            if (p.encoder, p.method, p.bf16) == (encoder, method, bf16)
        ]
        key = estimate.overhead_key(encoder=encoder, method=method, bf16=bf16)
        found[key] = estimate.fit_overhead(steps, machine)
    return found


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1] if len(sys.argv) > 1 else "").to_dict()))
