"""The training dtype on a CPU, decided: fp32, or bf16 autocast where native bf16 is faster.

Pure (no torch, no I/O): the trainer decides with a measurement of the model's GEMM shape
(`trainer.precision`), the estimate predicts the same decision from a machine's calibration
(`core.estimate.Machine.precision`); both apply `decide`.
"""

from __future__ import annotations

__all__ = ["BF16_MIN_GAIN", "SETTINGS", "SETTING_ENV", "decide"]

SETTINGS = ("auto", "fp32")
"""The precision setting: `auto` (bf16 where measured faster) or `fp32` (always)."""

SETTING_ENV = "TUNEYARD_TRAIN_PRECISION"
"""Where workers read the setting, inherited from the server's environment (the estimate
reads it there too): `fp32` forces fp32 on a CPU with native bf16; `auto` is the default."""

BF16_MIN_GAIN = 1.15
"""A CPU run trains under bf16 autocast only where bf16 is at least this many times faster
than fp32."""


def decide(
    *,
    device_type: str,
    setting: str,
    native: bool,
    fp32_s: float | None = None,
    bf16_s: float | None = None,
) -> tuple[str, str]:
    """("fp32" or "bf16", why) for a run on `device_type` with this `setting` (any but
    "fp32" counts as "auto"), given whether the CPU has native bf16 and, if it was measured,
    the time of the same work in fp32 and in bf16."""
    if device_type != "cpu":
        return "fp32", f"{device_type}: the loss functions choose their own autocast"
    if setting == "fp32":
        return "fp32", "fp32 forced by the setting"
    if not native:
        return "fp32", "no native bf16 on this CPU (bf16 would be emulated)"
    if fp32_s is None or bf16_s is None:
        return "fp32", "native bf16, not measured"
    gain = fp32_s / bf16_s if bf16_s > 0 else 0.0
    if gain >= BF16_MIN_GAIN:
        return "bf16", f"native bf16 measured {gain:.2f}× faster than fp32"
    return "fp32", f"native bf16 measured only {gain:.2f}× as fast as fp32"
