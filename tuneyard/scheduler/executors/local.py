"""The local executor: each job trains in its own `python -m tuneyard.trainer` subprocess.

Workers run in their own session, so no signal reaches them when a server is killed
outright; each is given the server's pid instead and exits within a fraction of a second
once it is gone (`tuneyard.trainer.lifeline`). The worker's pid is kept in
`<job dir>/worker.pid`, and before a job is launched again any worker an earlier server
left in its folder is killed, so two workers never train one job at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from tuneyard.core.jobs import TrainingSpec

__all__ = ["ALLOCATOR_ENV", "LocalExecutor", "LocalWorker", "stop_leftover"]

logger = logging.getLogger(__name__)

_TAIL_BYTES = 8192
_PID_FILE = "worker.pid"


class LocalWorker:
    """A worker subprocess: protocol lines on its stdout, everything else in worker.log."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def lines(self) -> Iterator[str]:
        """Protocol lines until the worker closes its stdout."""
        assert self.process.stdout is not None
        with self.process.stdout:
            for raw in self.process.stdout:
                yield raw.decode("utf-8", "replace").rstrip("\r\n")

    def pause(self) -> None:
        """SIGUSR1: the worker saves a checkpoint at its next step boundary and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)

    def terminate(self) -> None:
        """SIGTERM: the worker stops at its next step boundary."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the worker and anything it started."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, or None while still running after `timeout`."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self) -> str:
        """The end of worker.log."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - _TAIL_BYTES))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""


ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
    "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "16",
}
"""Memory settings for workers (a variable already set wins). glibc: by default it hands
large blocks straight back to the kernel, so every training step faults its activations in
again (~30 MB of page faults a step on tiny-chat); kept in the heap, a step reuses the last
step's memory: ~7% more tokens/s on the CPU, at the cost of holding the peak until exit.
oneDNN: bf16 training on a CPU (`trainer.precision`) runs its GEMMs as oneDNN primitives,
cached per shape with their buffers, 1,024 by default; packed micro-batches differ in
length, so a run grew by a primitive set per micro-batch (tiny-chat LoRA, 27 steps: +270
MiB; `small`: +220 MiB) and no faster: 16 holds one step's set (tiny-chat 1,023 MiB against
1,295 at the default, its loop 11% faster; `small` 9–18% faster). fp32 GEMMs do not use it."""


class LocalExecutor:
    """Starts workers as child processes of the server, in their own process group."""

    def __init__(
        self,
        *,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        module: str = "tuneyard.trainer",
    ):
        self.python = python
        self.module = module
        """The worker's module, run as `python -m MODULE SPEC --parent-pid PID` (tests run
        a scripted worker through the same process plumbing)."""
        self.env = dict(os.environ if env is None else env)
        self.env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
        for name, value in ALLOCATOR_ENV.items():
            self.env.setdefault(name, value)

    def launch(self, spec: TrainingSpec) -> LocalWorker:
        """Start `python -m <module> <work_dir>/spec.json` (after killing a worker of the
        same job that an earlier server left running)."""
        work_dir = Path(spec.work_dir)
        leftover = stop_leftover(work_dir, module=self.module)
        if leftover is not None:
            logger.warning("killed worker %d an earlier server left in %s", leftover, work_dir)
        log_path = work_dir / "worker.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    self.module,
                    str(work_dir / "spec.json"),
                    "--parent-pid",  # exits at once if this server dies (trainer.lifeline)
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=work_dir,
                env=self.env,
                start_new_session=True,  # Ctrl-C reaches the server, which stops workers itself
            )
        (work_dir / _PID_FILE).write_text(f"{process.pid}\n")
        return LocalWorker(process, log_path)


def stop_leftover(
    work_dir: Path, *, module: str = "tuneyard.trainer", timeout: float = 10.0
) -> int | None:
    """SIGKILL the process group of the worker recorded in `work_dir` if it still runs,
    and wait (up to `timeout`) until it is gone; its pid, or None if there was none. The
    pid is trusted only while `/proc` shows it running `module` on this folder's spec, so a pid the
    system has since given to another process is never signalled."""
    try:
        pid = int((work_dir / _PID_FILE).read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if module.encode() not in argv or str(work_dir / "spec.json").encode() not in argv:
        return None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def _running(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
