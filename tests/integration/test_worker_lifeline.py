"""A worker whose server is SIGKILLed exits at once, even when nothing else would stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.world import EXAMPLES
from tuneyard import kinds
from tuneyard.core import jobs
from tuneyard.trainer import lifeline

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]

# A stand-in for the server: launches the job's worker with the local executor, hands the
# read end of the worker's stdout to a long-lived process (so the worker never sees a broken
# pipe, the only other thing that would stop it), prints both pids and waits to be killed.
SERVER = """
import json, subprocess, sys, time
from pathlib import Path
from tuneyard.core import jobs
from tuneyard import kinds
from tuneyard.trainer import lifeline
from tuneyard.scheduler.executors.local import LocalExecutor

spec = jobs.TrainingSpec.from_dict(json.loads(Path(sys.argv[1]).read_text()))
worker = LocalExecutor().launch(spec)
holder = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(300)"],
    pass_fds=[worker.process.stdout.fileno()],
    start_new_session=True,
)
print(worker.process.pid, holder.pid, flush=True)
time.sleep(300)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _long_job(tiny_dir: Path, work: Path) -> Path:
    """The spec file of a LoRA job on tiny-chat that would train for minutes."""
    work.mkdir()
    spec = jobs.TrainingSpec(
        job_id="job",
        task_type=kinds.TaskType.GENERATION,
        method=kinds.Method.LORA,
        base_model=jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir)),
        dataset_path=str(EXAMPLES / "chat.jsonl"),
        dataset_filename="chat.jsonl",
        hyperparameters=jobs.Hyperparameters(n_epochs=100, batch_size=8, save_steps=1),
        output_dir=str(work / "output"),
        work_dir=str(work),
    )
    (work / "spec.json").write_text(json.dumps(spec.to_dict()))
    return work / "spec.json"


def test_a_worker_exits_when_its_server_is_killed(tiny_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "job"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(_long_job(tiny_dir, work))],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    worker_pid = holder_pid = None
    try:
        assert server.stdout is not None
        worker_pid, holder_pid = map(int, server.stdout.readline().split())
        deadline = time.monotonic() + 120
        while not list((work / "checkpoints").glob("step-*")):  # it is training
            assert time.monotonic() < deadline, (work / "worker.log").read_text()
            assert not _gone(worker_pid), (work / "worker.log").read_text()
            time.sleep(0.1)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        killed = time.monotonic()
        while not _gone(worker_pid):
            assert time.monotonic() - killed < 5, "the worker outlived its server"
            time.sleep(0.05)
        assert "its server (pid" in (work / "worker.log").read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
        for pid in (worker_pid, holder_pid):
            if pid is not None and not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_exits_at_once_when_its_protocol_pipe_breaks(
    tiny_dir: Path, tmp_path: Path
) -> None:
    spec = _long_job(tiny_dir, tmp_path / "job")
    with subprocess.Popen(
        [sys.executable, "-m", "tuneyard.trainer", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=spec.parent,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ) as worker:
        try:
            assert worker.stdout is not None and worker.stdout.readline()  # it speaks
            worker.stdout.close()  # as a server that died: nobody reads any more
            status = worker.wait(120)
            stderr = worker.communicate()[1].decode()
        finally:
            if worker.poll() is None:
                worker.kill()
    assert status == lifeline.EXIT_ORPHANED, stderr  # not a traceback out of the handler
    assert "the protocol pipe is broken" in stderr
