"""Dataset checks: the validator's report plus the token profile with the model's tokenizer.

One use-case serves the job lifecycle (before a job is queued), the native API and
`tuneyard validate`, so all three say the same thing about the same file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneyard.core.jobs import Objective, TaskType
from tuneyard.core.models import BaseModel
from tuneyard.core.ports import TokenCounters
from tuneyard.datasets import validator
from tuneyard.datasets.profile import Profile, Summary
from tuneyard.datasets.report import DatasetReport, Limits

__all__ = ["DatasetCheck", "check_dataset", "clova_format", "format_for_job"]


PROFILE_CLOVA_MAX_BYTES = 256 << 20
"""CLOVA rows of one conversation may be anywhere in the file, so profiling its examples
holds the texts until the end; above this size the file is validated without a profile
(a job then takes numOfTokens from its worker)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetCheck:
    """The outcome of checking one dataset file; `profile` is None when it was skipped."""

    report: DatasetReport
    profile: Summary | None
    model: str | None
    profile_skipped: str | None = None

    @property
    def ok(self) -> bool:
        """True when the file has no issue."""
        return self.report.ok

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (what the API and `validate --json` return)."""
        return {
            "ok": self.ok,
            "model": self.model,
            **self.report.to_dict(),
            "profile": self.profile.to_dict() if self.profile else None,
            "profile_skipped": self.profile_skipped,
        }


def clova_format(filename: str) -> str:
    """The CLOVA format a file name implies (the validator still checks the extension)."""
    return "clova-csv" if filename.lower().endswith(".csv") else "clova-jsonl"


def format_for_job(
    path: Path, filename: str, *, dialect: str, objective: Objective
) -> tuple[str | None, str | None]:
    """(format, problem): the dataset format a job reads its file in, and why the file
    cannot serve the job's objective (None when it can).

    CLOVA jobs read CLOVA files (by extension); others read any format, detected. SFT needs
    conversations, DPO preference pairs (`*-dpo`), CPT plain documents (`*-cpt`).
    """
    if dialect == "clova" and objective is Objective.SFT:
        return clova_format(filename), None
    fmt = validator.detect(path, filename)
    if fmt is None:
        return None, None  # the validator reports what is wrong with the file
    kind = "pairs" if fmt.endswith("-dpo") else "text" if fmt.endswith("-cpt") else "chats"
    wanted = {Objective.SFT: "chats", Objective.DPO: "pairs", Objective.CPT: "text"}[objective]
    if kind != wanted:
        needs = {
            "chats": "conversations with assistant replies",
            "pairs": "preference pairs (chosen and rejected replies)",
            "text": 'plain documents ({"text": …} lines)',
        }
        return fmt, (
            f"{objective.value.upper()} trains on {needs[wanted]}; {fmt} holds {needs[kind]}"
        )
    return fmt, None


def check_dataset(
    path: Path,
    *,
    filename: str,
    fmt: str | None,
    task_type: TaskType,
    model: BaseModel | None,
    counters: TokenCounters,
    limits: Limits,
    on_progress: Callable[[int], None] | None = None,
) -> DatasetCheck:
    """Validate the file and profile its examples (tokens counted when a model is given)."""
    name = model.name if model is not None else None
    skipped = _too_big_to_profile(path, filename, fmt)
    counter = counters.counter(model, task_type) if model is not None and not skipped else None
    profile = Profile(counter)
    report = validator.validate(
        path,
        filename=filename,
        fmt=fmt,
        task_type=task_type,
        limits=limits,
        on_example=None if skipped else profile.add,
        on_progress=on_progress,
    )
    if skipped:
        return DatasetCheck(report=report, profile=None, model=name, profile_skipped=skipped)
    return DatasetCheck(report=report, profile=profile.summary(), model=name)


def _too_big_to_profile(path: Path, filename: str, fmt: str | None) -> str | None:
    """Why the examples of this file are not profiled, or None to profile them."""
    try:
        size = path.stat().st_size
    except OSError:
        return None  # the validator reports the missing file
    if size <= PROFILE_CLOVA_MAX_BYTES:
        return None
    if (fmt or validator.detect(path, filename) or "").startswith("clova"):
        return (
            f"CLOVA files over {PROFILE_CLOVA_MAX_BYTES >> 20} MB are checked without "
            "counting tokens (their conversations are grouped only at the end of the file)"
        )
    return None
