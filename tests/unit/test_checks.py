"""The dataset check: report + profile, and the memory cap on profiling big CLOVA files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.world import EXAMPLES
from tuneyard.basemodels import catalog, counting
from tuneyard.core import checks
from tuneyard.datasets import choice
from tuneyard.datasets.report import Limits
from tuneyard.kinds import TaskType


def _check(tmp_path: Path, name: str = "clova-generation.csv") -> checks.DatasetCheck:
    return checks.check_dataset(
        EXAMPLES / name,
        filename=name,
        fmt=None,
        task_type=TaskType.GENERATION,
        model=catalog.load(tmp_path).get("tiny-chat"),
        counters=counting.Counters(),
        limits=Limits(),
    )


def test_profile_with_tokens(tmp_path: Path) -> None:
    check = _check(tmp_path)
    assert check.ok and check.profile is not None
    assert (check.profile.examples, check.profile.tokens) == (60, 8270)
    assert check.to_dict()["profile_skipped"] is None


def test_big_clova_files_skip_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "PROFILE_CLOVA_MAX_BYTES", 1000)
    check = _check(tmp_path)
    assert check.ok and check.profile is None
    assert check.report.rows == 128  # still fully validated
    assert "without counting tokens" in (check.profile_skipped or "")


def _classification(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "labels.csv"
    lines = ["System_Prompt,C_ID,T_ID,Text,Completion"]
    lines += [f",{i},0,{text},{label}" for i, (text, label) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_classification_label_limits(tmp_path: Path) -> None:
    from tuneyard.datasets import validator

    rows = [(f"text {i}", f"label{i % 16}") for i in range(160)] + [("odd one", "rare")]
    report = validator.validate(
        _classification(tmp_path, rows),
        filename="labels.csv",
        task_type=TaskType.CLASSIFICATION,
        limits=Limits(),
    )
    messages = [i.message for i in report.issues]
    assert messages == [
        "Invalid dataset: too many labels. 17 labels, at most 15",
        "Invalid dataset: too few rows for label rare. 1 rows, at least 10",
    ]
    assert report.total_issues == 2


def test_classification_within_limits_is_ok(tmp_path: Path) -> None:
    from tuneyard.datasets import validator

    rows = [(f"text {i}", "yes" if i % 2 else "no") for i in range(120)]
    report = validator.validate(
        _classification(tmp_path, rows),
        filename="labels.csv",
        task_type=TaskType.CLASSIFICATION,
        limits=Limits(),
    )
    assert report.ok and report.labels == ("no", "yes")
