"""NAVER CLOVA Studio tuning datasets (spec §1.8): validate a CSV or JSONL file, read examples.

The file is streamed once. Each format's reader turns it into records, one per data row,
as `(line, {column: value})` with canonical column names; `_Builder` checks the cells, the
C_ID/T_ID sequences and the System_Prompt of each conversation, and builds the examples.
Every problem goes to an `IssueLog`, so a report lists them all in file order. A problem
found by `source` (no file, wrong extension, too big, not UTF-8, unreadable) is the whole
report: nothing else is said about a file that cannot be read.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tuneyard.core.jobs import TaskType
from tuneyard.datasets import issues, source
from tuneyard.datasets.examples import Example, Message
from tuneyard.datasets.report import DatasetInvalid, DatasetReport, IssueLog, Limits

__all__ = ["COLUMNS", "load_examples", "validate"]

COLUMNS = ("System_Prompt", "C_ID", "T_ID", "Text", "Completion")
"""CLOVA's columns in their required order; System_Prompt is optional. Case-insensitive."""

_CANONICAL = {name.lower(): name for name in COLUMNS}
_REQUIRED = COLUMNS[1:]
_INDEX = re.compile(r"[0-9]{1,18}")
_JSON_SPACE = " \t\r\n"
_LABEL_CHARS = 64
_DEFAULTS = Limits()
_JSON_TYPES: dict[type, str] = {str: "string", list: "array", bool: "boolean", type(None): "null"}

_Record = tuple[int, dict[str, object] | None]
"""One data row: its first line and its values by column, or None when it could not be parsed."""


def validate(
    path: Path, *, filename: str, task_type: TaskType, limits: Limits = _DEFAULTS
) -> DatasetReport:
    """Check a dataset file and report every problem; `filename` is the client's file name."""
    return _read(path, filename, task_type, limits, keep=False)[0]


def load_examples(
    path: Path, *, filename: str, task_type: TaskType, limits: Limits = _DEFAULTS
) -> list[Example]:
    """Read a valid dataset file into examples; raises DatasetInvalid when it has problems."""
    report, examples = _read(path, filename, task_type, limits, keep=True)
    if not report.ok:
        raise DatasetInvalid(report)
    return examples


def _read(
    path: Path, filename: str, task_type: TaskType, limits: Limits, *, keep: bool
) -> tuple[DatasetReport, list[Example]]:
    """Stream the file once: the report and, when `keep`, the examples."""
    file_format = source.format_of(filename)
    fatal = source.precheck(path, filename, limits.max_bytes)
    if fatal is not None:
        return _unreadable(file_format, fatal), []
    log = IssueLog(limits.max_issues)
    lines = source.LineReader(path, limits.max_line_bytes)
    records = _csv_records if file_format == "clova-csv" else _jsonl_records
    builder = _Builder(task_type, limits, log, keep=keep)
    for line, values in records(lines, log, limits.max_line_bytes):
        builder.add(line, values)
    if lines.failure is not None:
        return _unreadable(file_format, lines.failure), []
    examples = builder.finish()
    report = DatasetReport(
        format=file_format,
        rows=builder.rows,
        conversations=builder.conversations,
        labels=builder.labels,
        issues=log.issues(),
        total_issues=log.total,
    )
    return report, examples


def _unreadable(file_format: str | None, issue: issues.DatasetIssue) -> DatasetReport:
    """The report of a file that could not be read: that one problem and nothing else."""
    return DatasetReport(file_format, 0, 0, None, [issue], 1)


# --- CSV ---------------------------------------------------------------------------------


class _CsvFeed:
    """Feeds physical lines to csv.reader and remembers the line its current record began on."""

    def __init__(self, lines: Iterable[source.Line], log: IssueLog, max_line_bytes: int) -> None:
        self._lines = iter(lines)
        self._log = log
        self._limit = max_line_bytes
        self.start: int | None = None
        self.last = 0

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.last = line.number
        self.start = line.number if self.start is None else self.start
        if line.too_long:
            self._log.add(issues.line_too_long(line.number, self._limit))
            return "\n"
        return line.text


def _csv_rows(feed: _CsvFeed, log: IssueLog) -> Iterator[tuple[int, list[str] | None]]:
    """Each CSV record with its first line; None for one the csv module rejects."""
    reader = csv.reader(feed, strict=True)
    while True:
        feed.start = None
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc).split(" - ")[0]  # drop the csv module's hint for programmers
            log.add(issues.invalid_csv(feed.start or feed.last, reason))
            cells = None
        yield feed.start or feed.last, cells


def _csv_records(
    lines: Iterable[source.Line], log: IssueLog, max_line_bytes: int
) -> Iterator[_Record]:
    """The data rows of a CSV file whose first record is the header; blank records are skipped."""
    columns: dict[str, int] | None = None
    width = 0
    for line, cells in _csv_rows(_CsvFeed(lines, log, max_line_bytes), log):
        if cells == []:
            continue  # a blank line
        if columns is None:
            if cells is not None:
                columns, width = _csv_header(cells, line, log), len(cells)
            continue
        yield line, None if cells is None else _csv_values(cells, columns, width, line, log)


def _csv_header(cells: list[str], line: int, log: IssueLog) -> dict[str, int]:
    """Column name -> cell index for each known column; problems with the header are logged."""
    columns: dict[str, int] = {}
    for index, name in enumerate(cells):
        _add_column(columns, name, index, line, log)
    _check_columns(columns, line, log, ordered=True)
    return columns


def _csv_values(
    cells: list[str], columns: dict[str, int], width: int, line: int, log: IssueLog
) -> dict[str, object]:
    """A record's values by column name; a short record's missing cells read as empty."""
    extra = next((i for i in range(width, len(cells)) if cells[i]), None)
    if extra is not None:
        log.add(issues.unexpected_column(f"column {extra + 1}", line))
    return {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}


# --- JSON Lines --------------------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's key/value pairs in file order, duplicates kept."""


def _jsonl_records(
    lines: Iterable[source.Line], log: IssueLog, max_line_bytes: int
) -> Iterator[_Record]:
    """The data rows of a JSON Lines file: one object per non-blank line."""
    for line in lines:
        if line.too_long:
            log.add(issues.line_too_long(line.number, max_line_bytes))
            yield line.number, None
        elif line.text.strip(_JSON_SPACE):
            pairs = _json_object(line, log)
            yield line.number, None if pairs is None else _json_values(pairs, line.number, log)


def _json_object(line: source.Line, log: IssueLog) -> _Pairs | None:
    """The line parsed as one JSON object, or None with the problem logged."""
    try:
        value = json.loads(line.text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} (column {exc.colno})"
    except RecursionError:
        reason = "nesting too deep"
    except ValueError:  # an integer with more digits than Python converts
        reason = "number too long"
    else:
        if isinstance(value, _Pairs):
            return value
        reason = f"expected an object, found {_JSON_TYPES.get(type(value), 'number')}"
    log.add(issues.invalid_json(line.number, reason))
    return None


def _json_values(pairs: _Pairs, line: int, log: IssueLog) -> dict[str, object]:
    """Values by column name; unknown, duplicate and missing keys are logged (order is not)."""
    values: dict[str, object] = {}
    columns: dict[str, int] = {}
    for index, (key, value) in enumerate(pairs):
        if _add_column(columns, key, index, line, log):
            values[_CANONICAL[key.lower()]] = value
    _check_columns(columns, line, log, ordered=False)
    return values


# --- columns, shared by both formats -----------------------------------------------------


def _add_column(columns: dict[str, int], name: str, index: int, line: int, log: IssueLog) -> bool:
    """Register one column name (header cell or JSON key); False when it is logged instead."""
    canonical = _CANONICAL.get(name.lower())
    if canonical is None:
        log.add(issues.unexpected_column(_label(name, index), line))
    elif canonical in columns:
        log.add(issues.duplicate_column(_label(name, index), line))
    else:
        columns[canonical] = index
        return True
    return False


def _check_columns(columns: dict[str, int], line: int, log: IssueLog, *, ordered: bool) -> None:
    """Log each required column that is missing and, when `ordered`, a wrong column order."""
    for name in _REQUIRED:
        if name not in columns:
            log.add(issues.missing_column(name, line))
    if ordered and list(columns) != [name for name in COLUMNS if name in columns]:
        log.add(issues.column_order(line))


def _label(name: str, index: int) -> str:
    """A column name fit for a message: never empty, never huge."""
    if not name.strip():
        return f"column {index + 1}"
    return name if len(name) <= _LABEL_CHARS else name[:_LABEL_CHARS] + "…"


# --- rows -> examples --------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Conversation:
    """The rows of one C_ID seen so far: turns by T_ID as (line, text, completion)."""

    line: int
    system: str
    turns: dict[int, tuple[int, str, str]]


class _Builder:
    """Checks each row's cells, groups rows into conversations and builds the examples."""

    def __init__(self, task_type: TaskType, limits: Limits, log: IssueLog, *, keep: bool) -> None:
        self._generation = task_type is TaskType.GENERATION
        self._limits = limits
        self._log = log
        self._keep = keep
        self._conversations: dict[int, _Conversation] = {}
        self._examples: list[Example] = []
        self._labels: set[str] = set()
        self._classified = 0
        self.rows = 0

    @property
    def conversations(self) -> int:
        """Conversations (GENERATION) or examples (CLASSIFICATION) found so far."""
        return len(self._conversations) if self._generation else self._classified

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The distinct labels, sorted (CLASSIFICATION only)."""
        return None if self._generation else tuple(sorted(self._labels))

    def add(self, line: int, values: dict[str, object] | None) -> None:
        """Take one data row; None stands for a row that could not be parsed."""
        self.rows += 1
        if values is None:
            return
        system = self._text(values, "System_Prompt", line, required=False)
        c_id = self._index(values, "C_ID", line)
        t_id = self._index(values, "T_ID", line)
        text = self._text(values, "Text", line, required=True)
        completion = self._text(values, "Completion", line, required=True)
        if text is not None and completion is not None:
            self._check_length(text, completion, line)
        if self._generation:
            self._add_turn(line, c_id, t_id, system or "", (text or "", completion or ""))
        elif text is not None and completion is not None:
            self._add_classified(system or "", text, completion)

    def finish(self) -> list[Example]:
        """Log the problems only the whole file shows; the examples (when kept)."""
        if self._generation:
            self._check_sequences()
            ordered = sorted(self._conversations.items())
            self._examples = [_conversation_example(c) for _, c in ordered] if self._keep else []
        if self.rows < self._limits.min_rows:
            self._log.add(issues.too_few_rows(self._limits.min_rows, self.rows))
        return self._examples

    def _text(
        self, values: dict[str, object], column: str, line: int, *, required: bool
    ) -> str | None:
        """A text cell (a JSON integer reads as its digits); None when absent or invalid."""
        if column not in values:
            return None
        value = values[column]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            self._log.add(issues.bad_value(column, line))
            return None
        if required and not (value or "").strip():
            self._log.add(issues.missing_column(column, line))
            return None
        return value or ""

    def _check_length(self, text: str, completion: str, line: int) -> None:
        """Log a row whose Text plus Completion is longer than the limit."""
        limit = self._limits.max_row_chars
        if len(text) + len(completion) > limit:
            self._log.add(issues.row_too_long("Text" if len(text) > limit else "Completion", line))

    def _index(self, values: dict[str, object], column: str, line: int) -> int | None:
        """A C_ID/T_ID cell as an int >= 0, or None (logged when present but invalid)."""
        if column not in values:
            return None
        value = values[column]
        if isinstance(value, str) and _INDEX.fullmatch(value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
            return value
        self._log.add(issues.bad_value(column, line))
        return None

    def _add_turn(
        self, line: int, c_id: int | None, t_id: int | None, system: str, turn: tuple[str, str]
    ) -> None:
        """Place a row in its conversation; log a changed System_Prompt or a repeated T_ID."""
        if c_id is None:
            return
        conversation = self._conversations.setdefault(c_id, _Conversation(line, system, {}))
        if system != conversation.system:
            self._log.add(issues.bad_value("System_Prompt", line))
        if t_id is None:
            return
        if t_id in conversation.turns:
            self._log.add(issues.bad_value("T_ID", line))
            return
        conversation.turns[t_id] = (line, *turn) if self._keep else (line, "", "")

    def _add_classified(self, system: str, text: str, completion: str) -> None:
        """Count one classification row and keep its example."""
        label = completion.strip()
        self._classified += 1
        self._labels.add(label)
        if self._keep:
            messages = (*_system_messages(system), Message("user", text))
            self._examples.append(Example(messages, label))

    def _check_sequences(self) -> None:
        """Log the first C_ID, and each conversation's first T_ID, that breaks 0, 1, 2, …."""
        c_id = _first_gap(self._conversations)
        if c_id is not None:
            self._log.add(issues.bad_value("C_ID", self._conversations[c_id].line))
        for conversation in self._conversations.values():
            t_id = _first_gap(conversation.turns)
            if t_id is not None:
                self._log.add(issues.bad_value("T_ID", conversation.turns[t_id][0]))


def _first_gap(ids: Iterable[int]) -> int | None:
    """The first id, in sorted order, that is not its position in the sequence 0, 1, 2, …."""
    return next((i for position, i in enumerate(sorted(ids)) if i != position), None)


def _system_messages(system: str) -> tuple[Message, ...]:
    """The leading system message a non-blank System_Prompt gives."""
    return (Message("system", system),) if system.strip() else ()


def _conversation_example(conversation: _Conversation) -> Example:
    """One generation example: the system prompt, then each turn's user and assistant message."""
    messages = list(_system_messages(conversation.system))
    for _, (_, text, completion) in sorted(conversation.turns.items()):
        messages += [Message("user", text), Message("assistant", completion)]
    return Example(tuple(messages))
