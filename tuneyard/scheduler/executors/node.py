"""The node side of the Ray executor: one training worker, run inside a Ray actor.

A `NodeWorker` is what the actor holds (`tuneyard.scheduler.executors.ray` wraps this class
with `ray.remote`; this module never imports Ray, so it is tested as a plain object too).
It starts the same `python -m tuneyard.trainer SPEC --parent-pid PID` subprocess as the
local executor, with the actor's pid as the parent, so the trainer exits at once when its
actor (or the actor's node) dies. A thread buffers the trainer's protocol lines, which the
server fetches with `read`; the signals of `pause`, `terminate` and `kill` are the local
executor's.

Where the worker runs: a spec with a `storage` section (the server runs with `--bucket`)
works in `<temp dir>/tuneyard-ray/jobs/<job id>` on this node (its work and output folders
rewritten there, tiny-chat built beside them); the trainer pulls its inputs and
checkpoints from the bucket and pushes its results there (`tuneyard.trainer.staging`), and
`cleanup` removes the folder. A spec without one keeps its paths: every node must then see
the server's data dir at the same path (a shared file system).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

import tuneyard
from tuneyard.core import protocol
from tuneyard.core.jobs import BaseModelRef, TrainingSpec
from tuneyard.scheduler.executors import local

__all__ = ["NodeWorker", "on_node", "scratch_root"]

_SPEC = "spec.json"


def scratch_root() -> Path:
    """This node's folder for job work dirs: `<temp dir>/tuneyard-ray` (TMPDIR moves it)."""
    return Path(tempfile.gettempdir()) / "tuneyard-ray"


def on_node(spec: TrainingSpec, scratch: Path) -> TrainingSpec:
    """`spec` with its work and output folders (and tiny-chat's build folder) under this
    node's `scratch` folder instead of the server's data dir."""
    work_dir = scratch / "jobs" / spec.job_id
    base = spec.base_model
    if base.source == "tiny-chat":
        base = BaseModelRef(base.name, base.source, str(scratch / "models" / base.name))
    return dataclasses.replace(
        spec, work_dir=str(work_dir), output_dir=str(work_dir / "output"), base_model=base
    )


class NodeWorker:
    """The trainer subprocess of one job on this node, and its protocol lines so far."""

    def __init__(
        self,
        spec: Mapping[str, object],
        *,
        env: Mapping[str, str],
        version: str,
    ) -> None:
        self.spec = TrainingSpec.from_dict(spec)
        self.scratch = self.spec.storage is not None
        """The job's bytes live in a bucket, so it works in this node's scratch folder."""
        if self.scratch:
            self.spec = on_node(self.spec, scratch_root())
        self._lines: list[str] = []
        self._first = 0
        """How many lines the server has acknowledged (and were dropped from the buffer)."""
        self._done = False
        self._changed = threading.Condition()
        self._worker: local.LocalWorker | None = None
        self._status: int | None = None
        if version != tuneyard.__version__:
            self._refuse(
                f"The node {platform.node()} runs tuneyard {tuneyard.__version__}, the server "
                f"{version}; install the same version on every node"
            )
            return
        work_dir = Path(self.spec.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        staged = work_dir / f"{_SPEC}.tmp"
        staged.write_text(json.dumps(self.spec.to_dict(), indent=2), "utf-8")
        staged.replace(work_dir / _SPEC)
        executor = local.LocalExecutor(python=sys.executable, env={**os.environ, **env})
        self._worker = executor.launch(self.spec)
        threading.Thread(target=self._pump, name="tuneyard-node-lines", daemon=True).start()

    def where(self) -> dict[str, object]:
        """Which host and process run this worker (for logs and tests)."""
        worker = self._worker
        return {
            "host": platform.node(),
            "actor_pid": os.getpid(),
            "trainer_pid": worker.process.pid if worker else None,
            "work_dir": self.spec.work_dir,
        }

    def read(self, cursor: int, timeout: float) -> tuple[list[str], bool]:
        """The lines from number `cursor` on (waiting up to `timeout` seconds for one) and
        whether the trainer has closed its stdout; lines before `cursor` are forgotten."""
        with self._changed:
            if self._first + len(self._lines) <= cursor and not self._done:
                self._changed.wait(timeout)
            drop = min(max(0, cursor - self._first), len(self._lines))
            del self._lines[:drop]
            self._first += drop
            return list(self._lines), self._done

    def pause(self) -> None:
        """SIGUSR1 the trainer: it saves a checkpoint at its next step boundary and exits."""
        if self._worker is not None:
            self._worker.pause()

    def terminate(self) -> None:
        """SIGTERM the trainer: it stops at its next step boundary."""
        if self._worker is not None:
            self._worker.terminate()

    def kill(self) -> None:
        """SIGKILL the trainer and anything it started."""
        if self._worker is not None:
            self._worker.kill()

    def wait(self, timeout: float | None) -> int | None:
        """The trainer's exit status, or None while it runs after `timeout` seconds."""
        if self._worker is None:
            return self._status
        return self._worker.wait(timeout)

    def log_tail(self) -> str:
        """The end of the trainer's worker.log."""
        return self._worker.log_tail() if self._worker is not None else ""

    def cleanup(self) -> None:
        """Remove this job's scratch folder (only a scratch one: never the server's)."""
        if self.scratch and (self._worker is None or self.wait(0) is not None):
            shutil.rmtree(self.spec.work_dir, ignore_errors=True)

    def _pump(self) -> None:
        assert self._worker is not None
        try:
            for line in self._worker.lines():
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def _refuse(self, message: str) -> None:
        """End without starting a trainer: one `failed` line, exit status 1."""
        self._lines.append(protocol.encode(protocol.Failed(code="train.unknown", message=message)))
        self._done = True
        self._status = protocol.EXIT_FAILED
