"""The training dtype: native bf16 detection and the fp32 / bf16 decision."""

from __future__ import annotations

import pytest
import torch

from tuneyard import cpuinfo
from tuneyard.trainer import precision

ZEN2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse avx avx2 fma\n"
SAPPHIRE_RAPIDS = "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
ZEN4 = "flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"


def test_flags_are_read_from_cpuinfo() -> None:
    assert cpuinfo.flags(ZEN2) == {"fpu", "sse", "avx", "avx2", "fma"}
    assert cpuinfo.flags("model name : nothing here\n") == frozenset()


@pytest.mark.parametrize(("text", "native"), [(ZEN2, False), (SAPPHIRE_RAPIDS, True), (ZEN4, True)])
def test_native_bf16_needs_amx_or_avx512_bf16(text: str, native: bool) -> None:
    assert precision.native_bf16(cpuinfo.flags(text)) is native


def test_without_native_bf16_a_cpu_run_stays_fp32_unmeasured() -> None:
    choice = precision.decide(device_type="cpu", setting="auto", native=False)
    assert choice.dtype == "fp32" and "emulated" in choice.reason
    assert choice.autocast is None


def test_native_bf16_is_used_only_where_measured_faster() -> None:
    faster = precision.decide(
        device_type="cpu", setting="auto", native=True, fp32_s=1.0, bf16_s=0.25
    )
    assert faster.dtype == "bf16" and faster.autocast is torch.bfloat16
    barely = precision.decide(
        device_type="cpu", setting="auto", native=True, fp32_s=1.0, bf16_s=0.95
    )
    assert barely.dtype == "fp32"
    unmeasured = precision.decide(device_type="cpu", setting="auto", native=True)
    assert unmeasured.dtype == "fp32"


def test_the_fp32_setting_wins_over_a_faster_bf16() -> None:
    choice = precision.decide(
        device_type="cpu", setting="fp32", native=True, fp32_s=1.0, bf16_s=0.1
    )
    assert choice.dtype == "fp32" and "forced" in choice.reason


def test_cuda_is_left_to_the_loss_functions() -> None:
    assert precision.decide(device_type="cuda", setting="auto", native=False).dtype == "fp32"


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="precision"):
        precision.decide(device_type="cpu", setting="fp16", native=True)


def test_choose_measures_only_on_a_native_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[tuple[int, int, int]] = []

    def fake_measure(i: int, o: int, rows: int, **_: object) -> tuple[float, float]:
        measured.append((i, o, rows))
        return 1.0, 0.3

    monkeypatch.setattr(precision, "measure", fake_measure)
    monkeypatch.setattr(precision, "native_bf16", lambda flags=None: False)
    cpu = torch.device("cpu")
    shape = {"in_features": 8, "out_features": 16, "rows": 32}
    assert precision.choose(cpu, "auto", **shape).dtype == "fp32" and not measured
    monkeypatch.setattr(precision, "native_bf16", lambda flags=None: True)
    assert precision.choose(cpu, "fp32", **shape).dtype == "fp32" and not measured
    assert precision.choose(cpu, "auto", **shape).dtype == "bf16"
    assert measured == [(8, 16, 32)]


def test_autocast_turns_on_only_for_a_bf16_choice() -> None:
    cpu = torch.device("cpu")
    a = torch.ones(4, 4)
    with precision.autocast(cpu, precision.Choice("fp32", "")):
        assert (a @ a).dtype == torch.float32
    with precision.autocast(cpu, precision.Choice("bf16", "")):
        assert (a @ a).dtype == torch.bfloat16
