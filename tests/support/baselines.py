"""Uninterrupted runs of jobs a server trained, to compare their adapters with: the same
spec.json, trained start to finish by `python -m tuneyard.trainer` in a fresh folder."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tests.support.training import adapter


class Named(Protocol):
    """A job with a label and (once created) its id in the database."""

    label: str
    id: str


class Baselines:
    """Uninterrupted runs of each job's spec (`python -m tuneyard.trainer` in a fresh
    folder), one at a time in a background thread, each started as soon as the server has
    written the job's spec.json."""

    def __init__(self, data_dir: Path, root: Path, jobs: Sequence[Named]) -> None:
        self.data_dir, self.root, self.jobs = data_dir, root, jobs
        self.outputs: dict[str, Path] = {}
        self.errors: dict[str, str] = {}
        self._done = threading.Event()
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="soak-baselines", daemon=True)

    def __enter__(self) -> Baselines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
        self._thread.join(30)

    def _run(self) -> None:
        for job in self.jobs:
            while not self._stop.is_set():
                spec = self.data_dir / "jobs" / job.id / "spec.json" if job.id else None
                if spec is not None and spec.exists():
                    self._train(job.label, spec)
                    break
                time.sleep(0.5)
        self._done.set()

    def _train(self, label: str, spec_path: Path) -> None:
        work = self.root / label
        spec = json.loads(spec_path.read_text("utf-8"))
        work.mkdir(parents=True)
        spec.update(work_dir=str(work), output_dir=str(work / "output"), job_id=label)
        (work / "spec.json").write_text(json.dumps(spec), "utf-8")
        with (work / "worker.log").open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tuneyard.trainer", str(work / "spec.json")],
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=work,
            )
            status = self._process.wait()
        if status == 0:
            self.outputs[label] = work / "output"
        else:
            tail = (work / "worker.log").read_text(errors="replace")[-3000:]
            self.errors[label] = f"exit {status}: {tail}"

    def wait(self, timeout: float) -> dict[str, Path]:
        """Every baseline's output folder, once all are trained."""
        assert self._done.wait(timeout), f"baselines not done; have {sorted(self.outputs)}"
        assert not self.errors, self.errors
        return self.outputs


def adapter_differences(got: Path, want: Path) -> list[str]:
    """How the LoRA tensors saved in `got` differ from those in `want` (atol 1e-6)."""
    import torch

    trained, reference = adapter(got), adapter(want)
    if set(trained) != set(reference):
        return [f"tensors differ: {sorted(set(trained) ^ set(reference))}"]
    return [
        f"{name}: max |diff| {float((trained[name] - tensor).abs().max()):.3g}"
        for name, tensor in reference.items()
        if not torch.allclose(trained[name], tensor, atol=1e-6, rtol=0)
    ]
