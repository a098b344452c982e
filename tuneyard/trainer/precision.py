"""The training dtype on a CPU: fp32, or bf16 autocast where this CPU runs bf16 natively and faster.

CPUs of the same kind differ: some have native bf16 matrix units (AMX, or AVX512-BF16),
where a bf16 matmul runs several times faster than fp32; on the others bf16 is emulated and
about 15× slower. So a CPU run trains in fp32 unless the CPU has native bf16 *and* a short
measurement at the model's own GEMM shape (a linear layer's forward and backward, fp32
against bf16 autocast) shows bf16 faster by at least `core.dtype.BF16_MIN_GAIN`. The `fp32` setting
(the worker's `TUNEYARD_TRAIN_PRECISION=fp32`) forces fp32. On CUDA the loss functions
keep their own bf16 autocast; nothing here applies.

`native_bf16` and `decide` are pure (flags in, choice out); `measure` and `choose` touch
torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Collection, Iterator
from typing import Any

import torch

from tuneyard import cpuinfo
from tuneyard.core import dtype as training_dtype
from tuneyard.core.dtype import SETTINGS

__all__ = [
    "NATIVE_BF16_FLAGS",
    "SETTINGS",
    "Choice",
    "autocast",
    "choose",
    "decide",
    "measure",
    "native_bf16",
    "on_cuda",
]

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""/proc/cpuinfo flags of native bf16 matrix arithmetic (Intel AMX, AVX512-BF16 on Intel
and AMD Zen 4+)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """The dtype a run trains in and why."""

    dtype: str
    """"fp32" or "bf16" (bf16 autocast: matmuls in bf16, weights and optimizer in fp32)."""
    reason: str

    @property
    def autocast(self) -> torch.dtype | None:
        """The autocast dtype (None: plain fp32)."""
        return torch.bfloat16 if self.dtype == "bf16" else None


def native_bf16(flags: Collection[str] | None = None) -> bool:
    """Whether this CPU (or one with these flags) computes bf16 matmuls natively.

    Without /proc/cpuinfo (another OS) torch's own CPU checks answer."""
    if flags is None:
        flags = cpuinfo.flags()
        if not flags:
            return _torch_says_native()
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def decide(
    *,
    device_type: str,
    setting: str,
    native: bool,
    fp32_s: float | None = None,
    bf16_s: float | None = None,
) -> Choice:
    """`core.dtype.decide` as a `Choice`, for a setting of `SETTINGS` only."""
    if setting not in SETTINGS:
        raise ValueError(f"precision setting must be one of {SETTINGS}, not {setting!r}")
    return Choice(
        *training_dtype.decide(
            device_type=device_type, setting=setting, native=native, fp32_s=fp32_s, bf16_s=bf16_s
        )
    )


def measure(
    in_features: int, out_features: int, rows: int, *, seconds: float = 0.3
) -> tuple[float, float]:
    """Best time of a linear layer's forward and backward on (rows × in_features), in fp32
    and under bf16 autocast: (fp32 seconds, bf16 seconds)."""
    layer = torch.nn.Linear(in_features, out_features, bias=False)
    x = torch.randn(rows, in_features, requires_grad=True)

    def once(dtype: torch.dtype | None) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            y = layer(x)
        y.float().sum().backward()
        return time.perf_counter() - start

    times = {}
    for dtype in (None, torch.bfloat16):
        once(dtype)
        best, until = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < until:
            best = min(best, once(dtype))
        times[dtype] = best
    return times[None], times[torch.bfloat16]


def choose(
    device: torch.device, setting: str, *, in_features: int, out_features: int, rows: int
) -> Choice:
    """`decide` for this machine, measuring the model's GEMM shape only where it can matter
    (a CPU with native bf16 and the `auto` setting)."""
    native = device.type == "cpu" and native_bf16()
    fp32_s = bf16_s = None
    if device.type == "cpu" and setting == "auto" and native and rows > 0:
        fp32_s, bf16_s = measure(in_features, out_features, rows)
    return decide(
        device_type=device.type, setting=setting, native=native, fp32_s=fp32_s, bf16_s=bf16_s
    )


@contextlib.contextmanager
def autocast(device: torch.device, choice: Choice | None) -> Iterator[None]:
    """bf16 autocast on a CPU where `choice` says bf16; otherwise nothing."""
    if device.type != "cpu" or choice is None or choice.autocast is None:
        yield
        return
    with torch.autocast("cpu", dtype=choice.autocast):
        yield


def on_cuda(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The loss functions' autocast: bf16 on CUDA; on a CPU nothing of its own, so the
    recipe's choice (`autocast`) applies."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _torch_says_native() -> bool:
    """torch's view of the CPU, where /proc/cpuinfo is missing."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
