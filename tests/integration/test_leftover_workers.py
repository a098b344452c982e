"""A worker a killed server left running is killed before its job is launched again, and
nothing else is: two workers never train one job at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuneyard.scheduler.executors import local

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc"),
]


def _sleeper(*argv: str) -> subprocess.Popen[bytes]:
    """A process whose command line ends with `argv`, in its own session like a worker
    (returned once `/proc` shows that command line)."""
    code = "import time; time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code, *argv], start_new_session=True)
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{process.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the process never showed its command line"
        time.sleep(0.01)
    return process


def test_an_orphaned_worker_of_the_job_is_killed(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    orphan = _sleeper("-m", "tuneyard.trainer", str(spec))
    try:
        (tmp_path / "worker.pid").write_text(f"{orphan.pid}\n")
        assert local.stop_leftover(tmp_path) == orphan.pid
        assert orphan.wait(5) == -9
        assert local.stop_leftover(tmp_path) is None  # gone: nothing to do
    finally:
        orphan.kill()
        orphan.wait()


def test_a_process_that_is_not_the_jobs_worker_is_left_alone(tmp_path: Path) -> None:
    other_job = _sleeper("-m", "tuneyard.trainer", str(tmp_path / "elsewhere" / "spec.json"))
    unrelated = _sleeper(str(tmp_path / "spec.json"))
    try:
        for process in (other_job, unrelated):  # e.g. a pid reused since the server died
            (tmp_path / "worker.pid").write_text(f"{process.pid}\n")
            assert local.stop_leftover(tmp_path) is None
            assert process.poll() is None
    finally:
        for process in (other_job, unrelated):
            process.kill()
            process.wait()
