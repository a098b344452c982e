"""NAVER CLOVA Studio tuning datasets (spec §1.8): validate a CSV or JSONL file, read examples.

The file is streamed once. Each format's reader turns it into records, one per data row,
as `(line, {column: value})` with canonical column names (a JSON Lines row of the usual
shape as its `_Cells`, checked while orjson parses it: see `_parse`, and bench/validate.py
for the speed); `_Builder` checks the cells, the C_ID/T_ID sequences and the System_Prompt
of each conversation (`sequences.Sequences`, a few bytes each), and builds the examples.
Each goes to `on_example` (GENERATION ones at the end: a conversation's rows may be anywhere).
Every problem goes to an `IssueLog`, so a report lists them all in file order. A problem
found by `source` (no file, wrong extension, too big, not UTF-8, unreadable) is the whole
report: nothing else is said about a file that cannot be read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from tuneyard.datasets import issues, progress, sequences, source
from tuneyard.datasets.examples import Example, Message
from tuneyard.datasets.report import DatasetInvalid, DatasetReport, IssueLog, Limits
from tuneyard.kinds import TaskType

__all__ = ["COLUMNS", "load_examples", "validate"]

COLUMNS = ("System_Prompt", "C_ID", "T_ID", "Text", "Completion")
"""CLOVA's columns in their required order; System_Prompt is optional. Case-insensitive."""

_CANONICAL = {name.lower(): name for name in COLUMNS}
_REQUIRED = COLUMNS[1:]
_COLUMN_KEYS = frozenset(COLUMNS)
_REQUIRED_KEYS = frozenset(_REQUIRED)
_MAX_ID = 10**18
_NOT_PARSED = source.NOT_PARSED
_ABSENT = object()
_JSON_SPACE = " \t\r\n"
_LABEL_CHARS = 64
_DEFAULTS = Limits()
_JSON_TYPES: dict[type, str] = {str: "string", list: "array", bool: "boolean", type(None): "null"}

_Sink = Callable[[Example], None]
_Cells = tuple[str, int, int, str, str]
"""A usual row's System_Prompt, C_ID, T_ID, Text and Completion, whose cells need no more checks."""
_Record = tuple[int, dict[str, object] | _Cells | None]
"""One data row: its first line and its values by column (or its `_Cells`), or None when it could
not be parsed."""


def validate(
    path: Path,
    *,
    filename: str,
    task_type: TaskType,
    limits: Limits = _DEFAULTS,
    on_example: _Sink | None = None,
    on_progress: progress.ProgressCallback | None = None,
) -> DatasetReport:
    """Check a dataset file and report every problem; `filename` is the client's file name."""
    file_format = source.format_of(filename)
    fatal = source.precheck(path, filename, limits.max_bytes)
    if fatal is not None:
        return _unreadable(file_format, fatal)
    log = IssueLog(limits.max_issues)
    csv_file = file_format == "clova-csv"
    lines = source.LineReader(path, limits.max_line_bytes, parse=None if csv_file else _parse)
    records = _csv_records if csv_file else _jsonl_records
    builder = _Builder(task_type, limits, log, on_example)
    tracked = progress.tracked(lines, on_progress, path)
    for line, values in records(tracked, log, limits.max_line_bytes):
        builder.add(line, values)
    if lines.failure is not None:
        return _unreadable(file_format, lines.failure)
    builder.finish()
    counts = (builder.rows, builder.conversations, builder.labels)
    return DatasetReport(file_format, *counts, log.issues(), log.total)


def load_examples(
    path: Path, *, filename: str, task_type: TaskType, limits: Limits = _DEFAULTS
) -> list[Example]:
    """Read a valid dataset file into examples; raises DatasetInvalid when it has problems."""
    examples: list[Example] = []
    found = validate(
        path, filename=filename, task_type=task_type, limits=limits, on_example=examples.append
    )
    if not found.ok:
        raise DatasetInvalid(found)
    return examples


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
        self.cut = False
        """Whether a line of the current record was too long (and so fed as an empty line)."""

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.last = line.number
        self.start = line.number if self.start is None else self.start
        if line.too_long:
            self._log.add(issues.line_too_long(line.number, self._limit))
            self.cut = True
            return "\n"
        return line.text


def _csv_rows(feed: _CsvFeed, log: IssueLog) -> Iterator[tuple[int, list[str] | None]]:
    """Each CSV record with its first line; None for one the csv module rejects or with a line
    too long to read (both already logged)."""
    reader = csv.reader(feed, strict=True)
    while True:
        feed.start, feed.cut = None, False
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc).split(" - ")[0]  # drop the csv module's hint for programmers
            log.add(issues.invalid_csv(feed.start or feed.last, reason))
            cells = None
        yield feed.start or feed.last, None if feed.cut else cells


def _csv_records(
    lines: Iterable[source.Line], log: IssueLog, max_line_bytes: int
) -> Iterator[_Record]:
    """The data rows of a CSV file whose first record is the header; blank records are skipped.

    When the header itself cannot be read, the rows are counted but not checked: without
    the header nothing can be said about their cells.
    """
    rows = _csv_rows(_CsvFeed(lines, log, max_line_bytes), log)
    line, cells = next((row for row in rows if row[1] != []), (0, []))  # the header
    if cells == []:
        return  # not a single record
    columns = None if cells is None else _csv_header(cells, line, log)
    width = 0 if cells is None else len(cells)
    for line, cells in rows:
        if cells == []:
            continue  # a blank line
        if cells is None or columns is None:
            yield line, None
        else:
            yield line, _csv_values(cells, columns, width, line, log)


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
    """The data rows of a JSON Lines file: one object per non-blank line.

    The reader has parsed each line with `_parse` already; a line it could not parse comes
    decoded, and the standard library parses it again to say why (or to accept what only
    it accepts, such as NaN).
    """
    for line in lines:
        if line.too_long:
            log.add(issues.line_too_long(line.number, max_line_bytes))
            yield line.number, None
        elif type(line.value) is tuple:
            yield line.number, line.value  # _Cells
        elif line.value is not _NOT_PARSED:
            yield line.number, _object_values(line.value, line.number, log)
        elif line.text.strip(_JSON_SPACE):
            pairs = _json_object(line, log)
            yield line.number, None if pairs is None else _json_values(pairs, line.number, log)


def _parse(data: bytes) -> Any:
    """One line by orjson: a usual row's `_Cells`, or its JSON value (the stdlib's pairs where
    orjson's dict could differ from them).

    Raises ValueError (orjson.JSONDecodeError) for a line orjson rejects, which the reader
    then decodes, checking its encoding, for `_json_object`.
    """
    value = orjson.loads(data)
    if type(value) is not dict:
        return value
    cells = _usual_cells(data, value)
    if cells is not None:
        return cells
    if _orjson_agrees(data, value):
        return value
    try:
        return json.loads(data, object_pairs_hook=_Pairs)
    except RecursionError as exc:
        raise ValueError("nesting too deep") from exc


def _usual_cells(data: bytes, value: dict[str, Any]) -> _Cells | None:
    """The cells of a usual row, which need no more checks; None for any other row.

    Usual: the keys as COLUMNS spells them, none repeated (see `_orjson_agrees`), integer
    ids in range and non-blank string texts. Nearly every row of a good file is usual, so
    this is written for speed: one lookup per key, then the cheapest test first.
    """
    keys = len(value)
    if keys == 5:
        system = value.get("System_Prompt")
    elif keys == 4 and "System_Prompt" not in value:
        system = ""
    else:
        return None
    c_id, t_id = value.get("C_ID"), value.get("T_ID")
    text, completion = value.get("Text"), value.get("Completion")
    if not (type(c_id) is int and type(t_id) is int and type(system) is str):
        return None
    if not (type(text) is str and type(completion) is str and text and completion):
        return None
    if not (0 <= c_id < _MAX_ID and 0 <= t_id < _MAX_ID):
        return None
    if text.isspace() or completion.isspace():
        return None
    colons = data.count(b":")
    if colons != keys:  # colons in the texts, or a repeated key
        colons -= system.count(":") + text.count(":") + completion.count(":")
        if colons != keys or b"\\u003" in data:
            return None
    return system, c_id, t_id, text, completion


def _orjson_agrees(data: bytes, value: dict[str, Any]) -> bool:
    """Whether orjson's dict says what the stdlib's pairs would: no key repeated, no float.

    orjson keeps only the last of repeated keys, and reads an integer past 64 bits as a
    float. A repeated key makes more colons outside strings than keys; the colons inside
    strings are counted from the parsed text, which is exact unless one was written as
    \\u003a, and such a line goes to the stdlib too.
    """
    colons = data.count(b":")
    if colons != len(value):
        colons -= sum(key.count(":") for key in value)
        colons -= sum(v.count(":") for v in value.values() if type(v) is str)
        if colons != len(value) or b"\\u003" in data:
            return False
    return float not in map(type, value.values())


def _object_values(value: Any, line: int, log: IssueLog) -> dict[str, object] | None:
    """The values of a line that parsed, or None when it is not an object (logged)."""
    if type(value) is dict:
        if _REQUIRED_KEYS <= value.keys() <= _COLUMN_KEYS:
            return value  # every key spelled as COLUMNS spells it: nothing to log or rename
        return _json_values(value.items(), line, log)
    if isinstance(value, _Pairs):
        return _json_values(value, line, log)
    found = _JSON_TYPES.get(type(value), "number")
    log.add(issues.invalid_json(line, f"expected an object, found {found}"))
    return None


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


def _json_values(pairs: Iterable[tuple[str, Any]], line: int, log: IssueLog) -> dict[str, object]:
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

_Transcript = tuple[str, dict[int, tuple[str, str]]]
"""A conversation kept for its example: its System_Prompt and (text, completion) by T_ID."""


class _Builder:
    """Checks each row's cells, groups rows into conversations and builds the examples."""

    def __init__(
        self, task_type: TaskType, limits: Limits, log: IssueLog, on_example: _Sink | None
    ) -> None:
        self._generation = task_type is TaskType.GENERATION
        self._limits = limits
        self._log = log
        self._on_example = on_example
        self._max_chars = limits.max_row_chars
        self._counting = self._generation and on_example is None
        """Whether a usual row only needs counting in its sequence (no example is built)."""
        self._sequences = sequences.Sequences(log)
        self._transcripts: dict[int, _Transcript] = {}
        self._labels: set[str] = set()
        self._classified = 0
        self.rows = 0

    @property
    def conversations(self) -> int:
        """Conversations (GENERATION) or examples (CLASSIFICATION) found so far."""
        return self._sequences.conversations if self._generation else self._classified

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The distinct labels, sorted (CLASSIFICATION only)."""
        return None if self._generation else tuple(sorted(self._labels))

    def add(self, line: int, values: dict[str, object] | _Cells | None) -> None:
        """Take one data row; None stands for a row that could not be parsed.

        A usual row (see `_usual_cells`) has only its length left to check; when no example
        is built it goes straight to the sequences, the hot path of a JSON Lines file.
        """
        self.rows += 1
        if not isinstance(values, tuple):
            if values is not None:
                self._add_checked(line, values)
            return
        system, c_id, t_id, text, completion = values
        if len(text) + len(completion) > self._max_chars:
            self._check_length(text, completion, line)
        if self._counting:
            self._sequences.add(line, c_id, t_id, system)
        elif self._generation:
            self._add_turn(line, c_id, t_id, system, (text, completion))
        else:
            self._add_classified(system, text, completion)

    def _add_checked(self, line: int, values: dict[str, object]) -> None:
        """Take any row, checking each cell and logging each problem."""
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

    def finish(self) -> None:
        """Log the problems only the whole file shows; pass on the conversations' examples."""
        if self._generation:
            self._sequences.check()
            if self._on_example is not None:
                for c_id in sorted(self._transcripts):
                    self._on_example(_conversation_example(*self._transcripts[c_id]))
        if self.rows < self._limits.min_rows:
            self._log.add(issues.too_few_rows(self._limits.min_rows, self.rows))

    def _text(
        self, values: dict[str, object], column: str, line: int, *, required: bool
    ) -> str | None:
        """A text cell (a JSON integer reads as its digits); None when absent or invalid."""
        value = values.get(column, _ABSENT)
        if type(value) is not str:
            if value is _ABSENT:
                return None
            if type(value) is int:
                value = str(value)
            elif value is not None:
                self._log.add(issues.bad_value(column, line))
                return None
        if required and (not value or value.isspace()):
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
        value = values.get(column, _ABSENT)
        if type(value) is int and 0 <= value < _MAX_ID:
            return value
        if type(value) is str and len(value) <= 18 and value.isdigit() and value.isascii():
            return int(value)
        if value is not _ABSENT:
            self._log.add(issues.bad_value(column, line))
        return None

    def _add_turn(
        self, line: int, c_id: int | None, t_id: int | None, system: str, turn: tuple[str, str]
    ) -> None:
        """Place a row in its conversation; log a changed System_Prompt or a repeated T_ID."""
        if c_id is None:
            return
        new_turn = self._sequences.add(line, c_id, t_id, system)
        if self._on_example is not None:
            transcript = self._transcripts.setdefault(c_id, (system, {}))
            if new_turn and t_id is not None:
                transcript[1][t_id] = turn

    def _add_classified(self, system: str, text: str, completion: str) -> None:
        """Count one classification row and pass on its example."""
        label = completion.strip()
        self._classified += 1
        self._labels.add(label)
        if self._on_example is not None:
            messages = (*_system_messages(system), Message("user", text))
            self._on_example(Example(messages, label))


def _system_messages(system: str) -> tuple[Message, ...]:
    """The leading system message a non-blank System_Prompt gives."""
    return (Message("system", system),) if system.strip() else ()


def _conversation_example(system: str, turns: dict[int, tuple[str, str]]) -> Example:
    """One generation example: the system prompt, then each turn's user and assistant message."""
    messages = list(_system_messages(system))
    for _, (text, completion) in sorted(turns.items()):
        messages += [Message("user", text), Message("assistant", completion)]
    return Example(tuple(messages))
