"""Checkpoints of a run: written atomically, listed, pruned to the last K plus the best.

A checkpoint is a directory `<root>/step-00000042/` holding the weights exactly as an export
needs them (a PEFT adapter, or a whole model in Hugging Face layout, with the tokenizer),
`trainer_state.pt` (optimizer, scheduler, RNG and loop position: what a resume needs) and
`checkpoint.json` (the `checkpoint` event's fields: step, epoch, losses; the type is
`tuneyard.core.checkpoints.Checkpoint`). It is staged under a temporary name and renamed
into place, and `checkpoint.json` is written last, so a directory without it (a worker
killed mid-save) is never listed and is cleared by the next save.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from tuneyard.core.checkpoints import Checkpoint

__all__ = [
    "INFO",
    "STATE",
    "Checkpoint",
    "best",
    "latest",
    "listed",
    "load_state",
    "prune",
    "save",
]

INFO = "checkpoint.json"
STATE = "trainer_state.pt"
_PREFIX = "step-"
_STAGING = ".staging-"


def save(root: Path, info: Checkpoint, write_weights: Any, state: dict[str, Any]) -> Checkpoint:
    """Write a checkpoint for `info.step`: `write_weights(directory)` saves the weights."""
    root.mkdir(parents=True, exist_ok=True)
    _clear_staging(root)
    final = root / f"{_PREFIX}{info.step:08d}"
    staging = root / f"{_STAGING}{info.step:08d}"
    info = dataclasses.replace(info, path=str(final))
    try:
        staging.mkdir()
        write_weights(staging)
        torch.save(state, staging / STATE)
        _write_json(staging / INFO, info.wire())
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def listed(root: Path) -> list[Checkpoint]:
    """The complete checkpoints under `root`, oldest step first."""
    found: list[Checkpoint] = []
    if not root.is_dir():
        return found
    for path in root.iterdir():
        if not path.name.startswith(_PREFIX) or not (path / INFO).is_file():
            continue
        data = json.loads((path / INFO).read_text("utf-8"))
        data["path"] = str(path)
        found.append(Checkpoint.from_dict(data))
    return sorted(found, key=lambda c: c.step)


def latest(root: Path) -> Checkpoint | None:
    """The newest complete checkpoint, or None."""
    found = listed(root)
    return found[-1] if found else None


def best(checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """The checkpoint with the lowest validation loss (training loss without validation)."""
    ranked = [c for c in checkpoints if math.isfinite(c.rank_loss)]
    return min(ranked, key=lambda c: (c.rank_loss, -c.step)) if ranked else None


def prune(root: Path, keep_last: int) -> list[Checkpoint]:
    """Delete all but the last `keep_last` checkpoints and the best one; return the deleted."""
    found = listed(root)
    keep = {c.step for c in found[-keep_last:]}
    top = best(found)
    if top is not None:
        keep.add(top.step)
    removed = [c for c in found if c.step not in keep]
    for checkpoint in removed:
        shutil.rmtree(checkpoint.path, ignore_errors=True)
    return removed


def load_state(checkpoint: Checkpoint) -> dict[str, Any]:
    """The trainer state saved with `checkpoint`."""
    state: dict[str, Any] = torch.load(Path(checkpoint.path) / STATE, weights_only=False)
    return state


def _clear_staging(root: Path) -> None:
    for path in root.glob(f"{_STAGING}*"):
        shutil.rmtree(path, ignore_errors=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
