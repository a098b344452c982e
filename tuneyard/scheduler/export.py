"""Exporters: turn a job's saved weights into a standalone Hugging Face directory.

`SubprocessExporter` runs `python -m tuneyard.trainer.export` so that the server process
never loads torch; `CopyExporter` is its fake, for tests of everything around an export.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["CopyExporter", "SubprocessExporter"]

_MESSAGE_LIMIT = 2000


class SubprocessExporter:
    """Exports in a child process (merging loads the model: seconds to minutes)."""

    def __init__(self, *, timeout_s: float = 3600) -> None:
        self.timeout_s = timeout_s

    def export(self, source: Path, target: Path, *, merged: bool) -> None:
        """Run the export; raises ValueError with the child's message when it fails."""
        command = [sys.executable, "-m", "tuneyard.trainer.export", str(source), str(target)]
        if merged:
            command.append("--merged")
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=self.timeout_s, check=False
        )
        if done.returncode != 0:
            lines = (done.stderr or "").strip().splitlines()
            raise ValueError((lines[-1] if lines else "export failed")[:_MESSAGE_LIMIT])


class CopyExporter:
    """The fake: copies the files; `merged` turns an adapter's config into a model config."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, Path, bool]] = []

    def export(self, source: Path, target: Path, *, merged: bool) -> None:
        """Copy `source` to `target` (and record the call)."""
        self.calls.append((source, target, merged))
        adapter = source / "adapter_config.json"
        if not adapter.is_file() and not (source / "config.json").is_file():
            raise ValueError(f"{source} holds no saved model")
        shutil.copytree(source, target, dirs_exist_ok=True)
        if merged and adapter.is_file():
            (target / "adapter_config.json").unlink()
            (target / "config.json").write_text(json.dumps({"merged_from": str(source)}))
