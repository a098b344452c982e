"""The machine calibration cache, request hyperparameters, and `tuneyard estimate`."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from tests.support.estimates import MACHINE
from tuneyard import calibration, errors
from tuneyard.cli import main as cli
from tuneyard.core import estimate
from tuneyard.core.estimates import hyperparameters_of


class Counted:
    """A fake measurement that counts its calls (and can be held back)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, key: str) -> estimate.Machine:
        self.gate.wait(5)
        self.calls.append(key)
        return dataclasses.replace(MACHINE, key=key)


def test_measured_once_then_cached_on_disk(tmp_path: Path) -> None:
    measure = Counted()
    first = calibration.Calibration(tmp_path, key_of=lambda: "cpu A", measure_with=measure)
    assert first.get().key == "cpu A"
    assert first.get().key == "cpu A"
    again = calibration.Calibration(tmp_path, key_of=lambda: "cpu A", measure_with=measure)
    assert again(True) == first.get()  # a new process reads the cache
    assert measure.calls == ["cpu A"]
    assert json.loads((tmp_path / calibration.CACHE).read_text())["key"] == "cpu A"


def test_measured_again_when_the_machine_changes(tmp_path: Path) -> None:
    measure = Counted()
    key = ["cpu A"]
    cal = calibration.Calibration(tmp_path, key_of=lambda: key[0], measure_with=measure)
    cal.get()
    key[0] = "cpu B | 16 cores"
    assert cal.get().key == "cpu B | 16 cores"
    assert measure.calls == ["cpu A", "cpu B | 16 cores"]


def test_not_waiting_starts_a_background_measurement(tmp_path: Path) -> None:
    measure = Counted()
    measure.gate.clear()
    cal = calibration.Calibration(tmp_path, key_of=lambda: "k", measure_with=measure)
    assert cal(False) is None  # started, not waited for
    assert cal(False) is None  # still measuring: no second one
    measure.gate.set()
    assert cal(True) is not None
    assert measure.calls == ["k"]


def test_data_dirs_share_one_calibration_of_the_machine(tmp_path: Path) -> None:
    """A new data dir on a calibrated machine starts calibrated, and servers starting
    together measure once (the others wait on the shared cache's lock)."""
    measure = Counted()
    measure.gate.clear()
    shared = tmp_path / "cache" / calibration.CACHE
    dirs = [tmp_path / f"data{i}" for i in range(3)]
    cals = [
        calibration.Calibration(d, key_of=lambda: "cpu A", measure_with=measure, shared=shared)
        for d in dirs
    ]
    found: list[estimate.Machine] = []
    threads = [threading.Thread(target=lambda c=c: found.append(c.get())) for c in cals]
    for thread in threads:
        thread.start()
    measure.gate.set()
    for thread in threads:
        thread.join(10)
    assert measure.calls == ["cpu A"]
    assert [m.key for m in found] == ["cpu A"] * 3
    for d in dirs:  # each data dir keeps its copy
        assert json.loads((d / calibration.CACHE).read_text())["key"] == "cpu A"
    later = calibration.Calibration(
        tmp_path / "data9", key_of=lambda: "cpu A", measure_with=measure, shared=shared
    )
    assert later(False) is not None  # from the shared cache at once, nothing measured
    assert measure.calls == ["cpu A"]


def test_a_busy_calibration_is_measured_again_once_the_machine_is_quiet(
    tmp_path: Path,
) -> None:
    """A calibration taken while the machine was busy is used, and replaced in the
    background by one measured when the machine is quiet (once per process)."""
    load = [2.0]
    measured_busy = [1.5]

    def measure(key: str) -> estimate.Machine:
        return dataclasses.replace(MACHINE, key=key, busy=measured_busy[0], op_s=measured_busy[0])

    shared = tmp_path / "cache" / calibration.CACHE
    cal = calibration.Calibration(
        tmp_path / "a", key_of=lambda: "k", measure_with=measure, shared=shared,
        busy_of=lambda: load[0],
    )  # fmt: skip
    first = cal(True)
    assert first is not None and first.busy == 1.5
    assert cal(True) is first  # still busy now: kept, nothing measured again
    load[0], measured_busy[0] = 0.1, 0.1
    assert cal(True) is first  # quiet now: still answered at once, re-measured behind
    for _ in range(100):
        again = cal(True)
        if again is not None and again.busy == 0.1:
            break
        threading.Event().wait(0.02)
    assert again is not None and again.busy == 0.1 and again.op_s == 0.1
    assert json.loads(shared.read_text())["busy"] == 0.1  # every data dir gets the quiet one


def test_a_busy_calibration_can_be_measured_again_at_once(tmp_path: Path) -> None:
    """What a benchmark does before timing anything: measure again now, in the caller's
    thread (nothing left to run beside the jobs it then times), and cache it."""
    measured = []

    def measure(key: str) -> estimate.Machine:
        measured.append(key)
        return dataclasses.replace(MACHINE, key=key, busy=1.5 if len(measured) == 1 else 0.1)

    shared = tmp_path / "cache" / calibration.CACHE
    cal = calibration.Calibration(
        tmp_path / "a", key_of=lambda: "k", measure_with=measure, shared=shared,
        busy_of=lambda: 0.1,
    )  # fmt: skip
    assert cal.get().busy == 1.5
    quiet = cal.measure_again()
    assert quiet.busy == 0.1 and measured == ["k", "k"]
    assert cal.get() is quiet and json.loads(shared.read_text())["busy"] == 0.1
    assert cal(True) is quiet  # quiet now: nothing more is measured behind
    assert measured == ["k", "k"]


def test_the_shared_cache_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEYARD_CALIBRATION_CACHE", "/x/cal.json")
    assert calibration.shared_cache() == Path("/x/cal.json")
    monkeypatch.delenv("TUNEYARD_CALIBRATION_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert calibration.shared_cache() == Path("/xdg/tuneyard/calibration.json")


def test_the_key_names_cpu_cores_torch_and_device() -> None:
    found = calibration.key()
    assert " cores | torch " in found and found.endswith(("cpu", tuple(f"x{i}" for i in range(9))))


def test_request_hyperparameters() -> None:
    hp = hyperparameters_of({"n_epochs": "auto", "batch_size": 4, "learning_rate": 1})
    assert hp.auto == ("n_epochs",) and hp.batch_size == 4 and hp.learning_rate == 1.0
    with pytest.raises(errors.InvalidRequest, match="unknown hyperparameters: nope"):
        hyperparameters_of({"nope": 1})
    with pytest.raises(errors.InvalidRequest, match="batch_size must be a int"):
        hyperparameters_of({"batch_size": "8"})
    with pytest.raises(errors.InvalidRequest, match="batch_size must be between"):
        hyperparameters_of({"batch_size": 0})


def _chats(path: Path, rows: int = 40) -> Path:
    line = {
        "messages": [
            {"role": "user", "content": "hi " * 20},
            {"role": "assistant", "content": "yo " * 30},
        ]
    }
    path.write_text("".join(json.dumps(line) + "\n" for _ in range(rows)))
    return path


def _calibrated(data_dir: Path) -> None:
    """A cached calibration for this machine, so the CLI measures nothing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    machine = dataclasses.replace(MACHINE, key=calibration.key())
    (data_dir / calibration.CACHE).write_text(json.dumps(machine.to_dict()))


def test_cli_estimate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _calibrated(tmp_path / "data")
    file = _chats(tmp_path / "train.jsonl")
    args = ["estimate", str(file), "--model", "tiny-chat", "--batch-size", "4", "--json"]
    status = cli.main([*args, "--n-epochs", "2", "--data-dir", str(tmp_path / "data")])
    found = json.loads(capsys.readouterr().out)
    assert status == 0
    assert found["fits"] is True and found["refused"] is None
    assert found["steps"] == 2 * 9  # 36 examples after 4 held out, in batches of 4
    assert (
        found["tokens"] == 2 * 36 * 154
    )  # <|user|>, 60 bytes, <|end|>, <|assistant|>, 90, <|end|>
    assert found["peak_memory_bytes"] > MACHINE.base_bytes
    assert found["job_seconds"] > found["train_seconds"] > 0
    assert found["device"] == "cpu" and found["memory_available_bytes"] == MACHINE.memory_bytes


def test_cli_estimate_says_when_it_measures_the_machine_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[str] = []

    def measure(key: str) -> estimate.Machine:
        measured.append(key)
        return dataclasses.replace(MACHINE, key=key)

    monkeypatch.setattr(calibration, "measure", measure)
    monkeypatch.setenv("TUNEYARD_CALIBRATION_CACHE", str(tmp_path / "shared.json"))
    file = _chats(tmp_path / "train.jsonl")
    args = ["estimate", str(file), "--model", "tiny-chat", "--data-dir", str(tmp_path / "d")]
    assert cli.main(args) == 0
    assert "measuring this machine" in capsys.readouterr().err and len(measured) == 1
    assert cli.main(args) == 0  # cached now: nothing measured, nothing said
    assert "measuring" not in capsys.readouterr().err and len(measured) == 1


def test_cli_estimate_refused_by_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _calibrated(tmp_path / "data")
    file = _chats(tmp_path / "train.jsonl")
    data = ["--data-dir", str(tmp_path / "data")]
    status = cli.main(
        ["estimate", str(file), "--model", "tiny-chat", "--max-job-seconds", "1", *data]
    )
    out = capsys.readouterr().out
    assert status == 1 and "refused: the job is over --max-job-seconds (1 s)" in out
    assert "peak memory" in out and "whole job" in out
    status = cli.main(["estimate", str(file), "--model", "nope", *data])
    assert status == 2


def test_policy_settings(tmp_path: Path) -> None:
    from tuneyard import runtime
    from tuneyard.settings import Settings

    env = {"TUNEYARD_MAX_JOB_SECONDS": "3600", "TUNEYARD_MAX_JOB_MEMORY": str(8 << 30)}
    settings = Settings.load({"max_running_jobs": 2}, env=env)
    policy = runtime.sizing_of(settings, tmp_path).policy
    assert (policy.max_job_seconds, policy.max_job_memory, policy.running_jobs) == (
        3600.0,
        8 << 30,
        2,
    )
    with pytest.raises(errors.InvalidRequest, match="max-job-memory must be 0"):
        Settings.load({"max_job_memory": -1}, env={})
    with pytest.raises(errors.InvalidRequest, match="max-job-seconds must be 0"):
        Settings.load({"max_job_seconds": -5.0}, env={})


def test_the_policy_caps_a_workers_memory() -> None:
    from tests.support.estimates import sizing
    from tuneyard.core.estimates import Estimates

    shared = Estimates(None, models=None, uploads=None, sizing=sizing(running_jobs=4))  # type: ignore[arg-type]
    assert shared.memory_available(MACHINE) == MACHINE.memory_bytes // 4
    capped = Estimates(None, models=None, uploads=None, sizing=sizing(max_job_memory=1 << 30))  # type: ignore[arg-type]
    assert capped.memory_available(MACHINE) == 1 << 30


def test_the_key_tells_machines_of_one_model_name_apart_by_their_units() -> None:
    """Two "AMD EPYC" machines, one with AVX-512 and native bf16, one with AVX2 only, have
    different GEMM rates and dtype choices: neither may reuse the other's calibration."""
    avx2 = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
    bf16 = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16\n"
    first, second = calibration.key(avx2), calibration.key(bf16)
    assert first != second
    assert first.startswith("AMD EPYC | avx2 | ") and " avx2+avx512f+avx512_bf16 | " in second
    assert " | base | " in calibration.key("model name\t: Some CPU\n")
