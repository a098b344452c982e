"""The one entry point for dataset files of every vendor: detect the format, validate, read.

`validate` streams a file once and reports every problem with its line and field; it never
raises on what a file contains. `on_example` receives each valid example as it is built,
so tokens can be counted without keeping the examples; `on_progress` the bytes read.
CLOVA files are read by `clova`; the JSON Lines formats of OpenAI, DashScope and Qianfan
by `jsonl` with each vendor's parsers. `task_type` matters to CLOVA files and to the SFT
chat formats (CLASSIFICATION: the one final assistant reply is the label); the preference
and CPT formats ignore it.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import orjson

from tuneyard.datasets import clova, formats, issues, jsonl, progress, source
from tuneyard.datasets.examples import Example
from tuneyard.datasets.report import DatasetInvalid, DatasetReport, IssueLog, Limits
from tuneyard.kinds import Objective, TaskType

__all__ = ["FORMATS", "detect", "load_examples", "validate"]

FORMATS: tuple[str, ...] = formats.NAMES
"""Every dataset format tuneyard reads, by name (declared in `formats`)."""

_CLOVA_KEYS = frozenset(column.lower() for column in clova.COLUMNS)
_CLOVA_IDS = frozenset({"c_id", "t_id"})
_JSON_SPACE = " \t\r\n"
_DEFAULTS = Limits()


def detect(path: Path, filename: str) -> str | None:
    """The format of a file, from its extension and its first non-blank record; None if unsure."""
    return _detect(path, filename, _DEFAULTS.max_line_bytes)[0]


def validate(
    path: Path,
    *,
    filename: str,
    fmt: str | None = None,
    task_type: TaskType = TaskType.GENERATION,
    limits: Limits = _DEFAULTS,
    on_example: Callable[[Example], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> DatasetReport:
    """Check a dataset file in format `fmt` (None: detect it) and report every problem."""
    if task_type is TaskType.CLASSIFICATION:
        return _with_label_limits(path, filename, fmt, limits, on_example, on_progress)
    return _validate(path, filename, fmt, task_type, limits, on_example, on_progress)


def _with_label_limits(
    path: Path,
    filename: str,
    fmt: str | None,
    limits: Limits,
    on_example: Callable[[Example], None] | None,
    on_progress: Callable[[int], None] | None,
) -> DatasetReport:
    """Validate a CLASSIFICATION file, then check its labels' count and sizes."""
    counts: collections.Counter[str] = collections.Counter()

    def count(example: Example) -> None:
        counts[str(example.label)] += 1
        if on_example is not None:
            on_example(example)

    report = _validate(path, filename, fmt, TaskType.CLASSIFICATION, limits, count, on_progress)
    found = []
    if len(counts) > limits.max_labels:
        found.append(issues.too_many_labels(limits.max_labels, len(counts)))
    found += [
        issues.rare_label(label, limits.min_rows_per_label, n)
        for label, n in sorted(counts.items())
        if n < limits.min_rows_per_label
    ]
    if not found:
        return report
    room = max(0, limits.max_issues - len(report.issues))
    return dataclasses.replace(
        report,
        issues=[*report.issues, *found[:room]],
        total_issues=report.total_issues + len(found),
    )


def _validate(
    path: Path,
    filename: str,
    fmt: str | None,
    task_type: TaskType,
    limits: Limits,
    on_example: Callable[[Example], None] | None,
    on_progress: Callable[[int], None] | None,
) -> DatasetReport:
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of {FORMATS}")
    fatal = source.precheck(path, filename, limits.max_bytes)
    if fatal is None and fmt is not None and source.format_of(filename) != _extension_of(fmt):
        fatal = issues.bad_extension()
    if fatal is None and fmt is None:
        fmt, fatal = _detect(path, filename, limits.max_line_bytes)
    if fatal is not None or fmt is None:
        return _single(fmt, fatal or issues.unknown_format(None))
    parser = formats.BY_NAME[fmt].parser
    if parser is None:
        return clova.validate(
            path,
            filename=filename,
            task_type=task_type,
            limits=limits,
            on_example=on_example,
            on_progress=on_progress,
        )
    return _validate_jsonl(path, fmt, parser, task_type, limits, on_example, on_progress)


def load_examples(
    path: Path,
    *,
    filename: str,
    fmt: str | None = None,
    task_type: TaskType = TaskType.GENERATION,
    limits: Limits = _DEFAULTS,
) -> list[Example]:
    """Read a valid dataset file into examples; raises DatasetInvalid when it has problems."""
    examples: list[Example] = []
    found = validate(
        path,
        filename=filename,
        fmt=fmt,
        task_type=task_type,
        limits=limits,
        on_example=examples.append,
    )
    if not found.ok:
        raise DatasetInvalid(found)
    return examples


def _validate_jsonl(
    path: Path,
    fmt: str,
    parser: jsonl.Parser,
    task_type: TaskType,
    limits: Limits,
    on_example: Callable[[Example], None] | None,
    on_progress: Callable[[int], None] | None,
) -> DatasetReport:
    """Stream a JSON Lines file of one vendor format through its parser; a chat (SFT)
    format read for CLASSIFICATION takes each final reply as the label."""
    log = IssueLog(limits.max_issues)
    # orjson parses each line's bytes in the reader: a line it accepts is never decoded.
    lines = source.LineReader(path, limits.max_line_bytes, parse=orjson.loads)
    classified = formats.BY_NAME[fmt].kind is Objective.SFT and task_type is TaskType.CLASSIFICATION
    labels: set[str] = set()

    def sink(example: Example) -> None:
        if example.label is not None:
            labels.add(example.label)
        if on_example is not None:
            on_example(example)

    records = jsonl.read(
        progress.tracked(lines, on_progress, path),
        parser,
        log,
        max_line_bytes=limits.max_line_bytes,
        on_example=sink if classified or on_example is not None else None,
        classified=classified,
    )
    if lines.failure is not None:
        return _single(fmt, lines.failure)
    jsonl.require_min(records, limits, log)
    found = tuple(sorted(labels)) if classified else None
    return DatasetReport(fmt, records, records, found, log.issues(), log.total)


def _single(fmt: str | None, issue: issues.DatasetIssue) -> DatasetReport:
    """The report of a file with one problem that stops it being read."""
    return DatasetReport(fmt, 0, 0, None, [issue], 1)


def _extension_of(fmt: str) -> str:
    """What `source.format_of` says of the extensions `fmt` allows: .csv, or .jsonl and .json."""
    return "clova-csv" if fmt == "clova-csv" else "clova-jsonl"


def _detect(
    path: Path, filename: str, max_line_bytes: int
) -> tuple[str | None, issues.DatasetIssue | None]:
    """The format of a file, or the problem that keeps it from being known."""
    extension = source.format_of(filename)
    if extension is None:
        return None, issues.bad_extension()
    if extension == "clova-csv":
        return extension, None
    reader = source.LineReader(path, max_line_bytes)
    lines = iter(reader)
    first = next((line for line in lines if line.too_long or line.text.strip(_JSON_SPACE)), None)
    if isinstance(lines, Generator):
        lines.close()
    if reader.failure is not None:
        return None, reader.failure
    if first is None or first.too_long:
        return None, issues.unknown_format(None if first is None else first.number)
    value, invalid = jsonl.parse(first)
    if invalid is not None:
        return None, invalid
    fmt = _shape(value)
    return fmt, None if fmt is not None else issues.unknown_format(first.number)


def _shape(value: Any) -> str | None:
    """The JSON Lines format one record's shape shows, or None.

    An array is Qianfan (DPO when a turn has chosen/rejected); `input` + `preferred_output`
    is OpenAI DPO; `messages` is DashScope DPO with `chosen`, else OpenAI chat (DashScope SFT
    has the same shape and is read only when named); `text` alone is DashScope CPT; CLOVA
    column names (any case) are CLOVA when they include C_ID/T_ID or are all the keys.
    """
    if isinstance(value, list):
        preference = any(isinstance(t, dict) and ("chosen" in t or "rejected" in t) for t in value)
        return "qianfan-dpo" if preference else "qianfan-sft"
    if not isinstance(value, dict):
        return None
    keys = set(value)
    if {"input", "preferred_output"} <= keys:
        return "openai-dpo"
    if "messages" in keys:
        return "dashscope-dpo" if "chosen" in keys else "openai-chat"
    lowered = {key.lower() for key in keys}
    if "text" in keys and not (lowered - {"text"}) & _CLOVA_KEYS:
        return "dashscope-cpt"
    clova_like = (bool(lowered) and lowered <= _CLOVA_KEYS) or bool(lowered & _CLOVA_IDS)
    return "clova-jsonl" if clova_like else None
