"""The training dtype on a CPU: fp32 without native bf16, bf16 autocast where it measures faster."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests.support.training import run_recipe, training_spec
from tuneyard.core import protocol
from tuneyard.datasets.examples import Example, Message
from tuneyard.trainer import data, precision, recipe, report

pytestmark = pytest.mark.integration  # trains tiny-chat (no server)


def chat(i: int) -> Example:
    a, b = i % 7, i % 5
    return Example((Message("user", f"{a}+{b}?"), Message("assistant", f"{a + b}")))


def train(work: Path, tiny_dir: Path, setting: str = "auto") -> list[dict[str, Any]]:
    spec = training_spec(
        work,
        tiny_dir,
        n_epochs=1,
        batch_size=4,
        learning_rate=5e-3,
        validation_split=0.25,
        eval_samples=0,
        seed=7,
    )
    stream = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "load_examples", lambda spec: [chat(i) for i in range(24)])
        recipe.run(spec, report.Reporter(stream), lambda: False, precision_setting=setting)
    decoded = map(protocol.decode, stream.getvalue().splitlines())
    return [protocol.wire(e) for e in decoded if e is not None]


def event(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [e for e in events if e["event"] == name]
    return found


def test_a_cpu_without_native_bf16_trains_in_fp32(tiny_dir: Path, tmp_path: Path) -> None:
    if precision.native_bf16():
        pytest.skip("this CPU has native bf16")
    assert event(train(tmp_path, tiny_dir), "data")["precision"] == "fp32"


def test_native_bf16_measured_faster_trains_under_autocast_with_fp32_loss(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fp32 = train(tmp_path / "fp32", tiny_dir, "fp32")
    measured: list[tuple[int, int, int]] = []

    def faster_bf16(i: int, o: int, rows: int, **_: object) -> tuple[float, float]:
        measured.append((i, o, rows))
        return 1.0, 0.3

    monkeypatch.setattr(precision, "native_bf16", lambda flags=None: True)
    monkeypatch.setattr(precision, "measure", faster_bf16)
    forced = train(tmp_path / "forced", tiny_dir, "fp32")
    assert event(forced, "data")["precision"] == "fp32" and not measured
    bf16 = train(tmp_path / "bf16", tiny_dir)
    assert event(bf16, "data")["precision"] == "bf16"
    assert measured and measured[0][:2] == (256, 704)  # tiny-chat's MLP shape
    want = event(fp32, "evaluated")["metrics"]["valid_loss"]
    got = event(bf16, "evaluated")["metrics"]["valid_loss"]
    assert got == pytest.approx(want, rel=0.01)  # held-out loss within 1% of fp32


def test_a_resumed_run_keeps_the_dtype_it_began_in(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped at a checkpoint and resumed trains on in the dtype it began in, even
    where measuring again would now choose the other one (a near-threshold gain)."""
    monkeypatch.setattr(precision, "native_bf16", lambda flags=None: True)
    gains = iter([(1.0, 0.3), (1.0, 1.0)])  # bf16 3× faster at first, then no faster
    monkeypatch.setattr(precision, "measure", lambda *a, **k: next(gains))
    spec = training_spec(tmp_path, tiny_dir, n_epochs=2, batch_size=4, save_steps=2, seed=7)
    examples = [chat(i) for i in range(24)]
    first = run_recipe(spec, examples, stop_at_checkpoint=2, precision_setting="auto")
    assert event(first, "data")["precision"] == "bf16"
    second = run_recipe(spec, examples, precision_setting="auto")
    assert event(second, "resumed")["step"] == 2
    assert event(second, "data")["precision"] == "bf16"  # kept, not measured again
    assert next(gains, None) == (1.0, 1.0)  # the second measurement was never taken
