"""Dataset checks: the validator's report plus the token profile with the model's tokenizer.

One use-case serves the job lifecycle (before a job is queued), the native API and
`tuneyard validate`, so all three say the same thing about the same file. Which format a
job reads its file in is the datasets package's choice (`tuneyard.datasets.choice`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tuneyard.core.models import BaseModel
from tuneyard.core.ports import TokenCounters
from tuneyard.datasets import choice, validator
from tuneyard.datasets.profile import Profile, Summary
from tuneyard.datasets.report import DatasetReport, Limits
from tuneyard.kinds import TaskType

__all__ = ["DatasetCheck", "check_dataset"]


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetCheck:
    """The outcome of checking one dataset file; `profile` is None when it was skipped."""

    report: DatasetReport
    profile: Summary | None
    model: str | None
    profile_skipped: str | None = None
    lengths: Sequence[int] = ()
    """Every example's token count, in file order (empty when not counted): what the
    estimate plans the run's batches from."""

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
    skipped = choice.too_big_to_profile(path, filename, fmt)
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
    return DatasetCheck(
        report=report, profile=profile.summary(), model=name, lengths=profile.lengths()
    )
