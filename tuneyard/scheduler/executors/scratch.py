"""Local workers that keep off the data dir (`--worker-scratch-dir`, with `--bucket`).

Each job whose bytes live in the bucket trains in `<scratch>/jobs/<job id>` exactly as it
would on another node of a Ray cluster (`tuneyard.scheduler.executors.node.on_node`): its
inputs and checkpoints pulled from the bucket, its results pushed there
(`tuneyard.trainer.staging`). The data dir then holds only the server's cache. A job
without a bucket runs in its job folder as usual.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuneyard.core.jobs import TrainingSpec
from tuneyard.core.ports import Executor, WorkerHandle
from tuneyard.scheduler.executors import node

__all__ = ["ScratchExecutor"]


class ScratchExecutor:
    """Moves a bucket-backed job's spec to a scratch folder, then launches it with `inner`."""

    def __init__(self, scratch: Path, inner: Executor) -> None:
        self.scratch = scratch.resolve()
        self.inner = inner

    def launch(self, spec: TrainingSpec) -> WorkerHandle:
        """Start the worker in `<scratch>/jobs/<job id>` (in its job folder without a bucket)."""
        if spec.storage is None:
            return self.inner.launch(spec)
        moved = node.on_node(spec, self.scratch)
        work_dir = Path(moved.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        staged = work_dir / "spec.json.tmp"
        staged.write_text(json.dumps(moved.to_dict(), indent=2), "utf-8")
        staged.replace(work_dir / "spec.json")
        return self.inner.launch(moved)
