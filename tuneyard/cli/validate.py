"""`tuneyard validate FILE`: the pre-flight check of a dataset, as a report or JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from tuneyard import errors, runtime
from tuneyard.core import checks
from tuneyard.datasets import validator
from tuneyard.kinds import TaskType
from tuneyard.settings import Settings

__all__ = ["add_parser", "run"]

_BAR_FROM_BYTES = 8 << 20


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `validate` and its flags."""
    parser = commands.add_parser(
        "validate",
        help="check a dataset before training: every issue with its line, rows, token counts",
        description="Exit status: 0 when the file has no issue, 1 when it has issues, "
        "2 when it cannot be checked (bad flags, unknown model).",
    )
    parser.add_argument("file", type=Path, help="the dataset file (.csv, .jsonl, .json)")
    parser.add_argument(
        "--format", choices=validator.FORMATS, help="the format (default: detected from content)"
    )
    parser.add_argument("--model", help="count tokens with this base model's tokenizer")
    parser.add_argument(
        "--task-type",
        choices=["generation", "classification"],
        help="default: classification for a classification-only model, else generation",
    )
    parser.add_argument("--max-issues", type=int, default=100, help="issues listed (default 100)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--data-dir", help="where models.toml lives (env TUNEYARD_DATA_DIR; ./tuneyard-data)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Check the file; print the report; 0 without issues, 1 with."""
    service = runtime.build(settings).service
    model = service.models.get(args.model) if args.model else None
    if args.task_type:
        task_type = TaskType(args.task_type)
    else:
        task_type = model.default_task_type() if model else TaskType.GENERATION
    if args.max_issues < 1:
        raise errors.InvalidRequest("--max-issues must be at least 1")
    bar = _Bar(args.file, sys.stderr)
    check = checks.check_dataset(
        args.file,
        filename=args.file.name,
        fmt=args.format,
        task_type=task_type,
        model=model,
        counters=service.ports.counters,
        limits=dataclasses.replace(service.limits, max_issues=args.max_issues),
        on_progress=bar.update if bar.enabled else None,
    )
    bar.close()
    if args.json:
        print(json.dumps(check.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(args.file, check, sys.stdout)
    return 0 if check.ok else 1


def _print(path: Path, check: checks.DatasetCheck, out: TextIO) -> None:
    report, profile = check.report, check.profile
    turns = f", {profile.turns} turns" if profile else ""
    print(
        f"{path}: {report.format or 'unknown format'}, {report.rows} rows, "
        f"{report.conversations} conversations{turns}",
        file=out,
    )
    if report.labels is not None:
        print(f"labels ({len(report.labels)}): {', '.join(report.labels)}", file=out)
    if check.profile_skipped:
        print(f"tokens not counted: {check.profile_skipped}", file=out)
    elif profile is not None and profile.tokens is not None:
        print(
            f"tokens ({check.model}): {profile.tokens} in all; per example p50 "
            f"{profile.tokens_p50}, p90 {profile.tokens_p90}, p99 {profile.tokens_p99}, "
            f"max {profile.tokens_max}",
            file=out,
        )
    if report.ok:
        print("OK: no issues", file=out)
        return
    print(f"{report.total_issues} issue(s):", file=out)
    for issue in report.issues:
        print(f"  [{issue.reason}] {issue.describe()}", file=out)
    hidden = report.total_issues - len(report.issues)
    if hidden > 0:
        print(f"  … and {hidden} more (raise --max-issues to list them)", file=out)


class _Bar:
    """A one-line progress bar on a terminal's stderr, for files worth waiting on."""

    def __init__(self, path: Path, out: TextIO) -> None:
        try:
            self.total = path.stat().st_size
        except OSError:
            self.total = 0
        self.out = out
        self.enabled = out.isatty() and self.total >= _BAR_FROM_BYTES
        self.started = time.monotonic()

    def update(self, done: int) -> None:
        """Redraw with `done` bytes read."""
        share = min(1.0, done / self.total) if self.total else 1.0
        speed = done / max(time.monotonic() - self.started, 1e-6) / 1e6
        filled = int(share * 30)
        self.out.write(
            f"\rvalidating [{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} "
            f"{done / 1e6:,.0f}/{self.total / 1e6:,.0f} MB {speed:,.0f} MB/s"
        )
        self.out.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled:
            self.update(self.total)
            self.out.write("\n")
