"""What validating a dataset found: the limits it was checked against and the report."""

from __future__ import annotations

import dataclasses
from typing import Any

from tuneyard.datasets.issues import DatasetIssue

__all__ = ["DatasetInvalid", "DatasetReport", "IssueLog", "Limits"]


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The bounds a dataset file is checked against."""

    max_bytes: int = 1_000_000_000
    """Largest accepted file size (file.size)."""
    min_rows: int = 100
    """Fewest data rows a training file may have (spec §1.8, §7)."""
    max_issues: int = 100
    """Issues kept in a report; `total_issues` still counts them all."""
    max_row_chars: int = 100_000
    """Longest accepted Text plus Completion, in characters."""
    max_line_bytes: int = 1_000_000
    """Longest physical line; a longer one is reported and skipped, never held whole."""
    max_labels: int = 15
    """Most distinct labels of a CLASSIFICATION dataset (CLOVA's limit, spec §1.8)."""
    min_rows_per_label: int = 10
    """Fewest examples of each CLASSIFICATION label (tuneyard's floor; CLOVA's legacy 200
    would reject most small datasets)."""


@dataclasses.dataclass(slots=True)
class DatasetReport:
    """The outcome of validating one dataset file."""

    format: str | None
    rows: int
    conversations: int
    labels: tuple[str, ...] | None
    issues: list[DatasetIssue]
    total_issues: int

    @property
    def ok(self) -> bool:
        """True when the file has no problem at all."""
        return self.total_issues == 0

    @property
    def first(self) -> DatasetIssue | None:
        """The first problem in file order: the one whose failureReason a task reports."""
        return self.issues[0] if self.issues else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "format": self.format,
            "ok": self.ok,
            "rows": self.rows,
            "conversations": self.conversations,
            "labels": None if self.labels is None else list(self.labels),
            "issues": [issue.to_dict() for issue in self.issues],
            "total_issues": self.total_issues,
        }


class DatasetInvalid(Exception):
    """A dataset file that cannot be trained on; `.report` says every reason."""

    def __init__(self, report: DatasetReport) -> None:
        self.report = report
        first = report.first
        text = first.describe() if first is not None else "Invalid dataset"
        more = report.total_issues - 1
        super().__init__(f"{text} (and {more} more)" if more > 0 else text)


class IssueLog:
    """Collects issues in any order and keeps the first `cap` in file order, in bounded memory."""

    def __init__(self, cap: int) -> None:
        self._cap = max(cap, 0)
        self._kept: list[tuple[tuple[bool, int, int], DatasetIssue]] = []
        self.total = 0

    def add(self, issue: DatasetIssue) -> None:
        """Record one issue; issues without a line sort after those with one."""
        key = (issue.line is None, issue.line or 0, self.total)
        self.total += 1
        self._kept.append((key, issue))
        if len(self._kept) > 2 * self._cap + 16:
            self._trim()

    def issues(self) -> list[DatasetIssue]:
        """The first `cap` issues in file order."""
        self._trim()
        return [issue for _, issue in self._kept]

    def _trim(self) -> None:
        self._kept.sort(key=lambda item: item[0])
        del self._kept[self._cap :]
