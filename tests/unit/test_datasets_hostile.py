"""Hostile dataset files: each gives its reason, in bounded memory and bounded time.

Giant lines, deeply nested JSON, NUL bytes, CSV quote bombs, a million columns, a zip
renamed .jsonl, an empty file, a file deleted or cut short while it is read. Every case
must return a report (pytest-timeout stops a hung one) whose first issue says what is
wrong; the big ones also keep the validator's own allocations under MEMORY_LIMIT.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tuneyard.datasets import clova, issues, report, source
from tuneyard.kinds import TaskType

MEMORY_LIMIT = 16_000_000
"""Most bytes the validator may allocate (tracemalloc's peak) while reading one file: a
quarter of the 64 MB the issue allows; the peaks seen are 0.1 MB (zip) to 10 MB (a million
columns, whose cells the csv module hands over as one list)."""
HEADER = b"C_ID,T_ID,Text,Completion\n"
CSV_FIELD_LIMIT = "field larger than field limit (131072)"
LINE_TOO_LONG = "Invalid dataset: line longer than 1MB."
HAS_VALIDATOR = importlib.util.find_spec("tuneyard.datasets.validator") is not None

pytestmark = pytest.mark.timeout(30)


def _write(path: Path, *parts: bytes, repeat: int = 1) -> Path:
    """Write `parts` (the middle one `repeat` times) without holding the whole file."""
    with path.open("wb") as stream:
        for index, part in enumerate(parts):
            for _ in range(repeat if index == len(parts) // 2 else 1):
                stream.write(part)
    return path


def _rows(count: int, start: int = 0) -> bytes:
    """`count` valid CLOVA JSONL rows, one conversation each, C_IDs from `start`."""
    rows = (
        {"C_ID": c_id, "T_ID": 0, "Text": f"question {c_id}", "Completion": f"answer {c_id}"}
        for c_id in range(start, start + count)
    )
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _validate(path: Path, **limits: int) -> report.DatasetReport:
    return clova.validate(
        path, filename=path.name, task_type=TaskType.GENERATION, limits=report.Limits(**limits)
    )


def _measured(run: Callable[[], report.DatasetReport]) -> tuple[report.DatasetReport, int]:
    """The report and the peak of memory allocated while it was made."""
    tracemalloc.start()
    try:
        found = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return found, peak


def _first(found: report.DatasetReport) -> tuple[str, int | None, str]:
    assert found.first is not None
    return found.first.reason, found.first.line, found.first.message


# --- giant lines -------------------------------------------------------------------------


def test_fifty_megabyte_jsonl_line_is_skipped(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "giant.jsonl",
        _rows(3) + b'{"C_ID": 3, "T_ID": 0, "Text": "',
        b"x" * 1_000_000,
        b'", "Completion": "b"}\n' + _rows(3, start=4),
        repeat=50,
    )
    found, peak = _measured(lambda: _validate(path, min_rows=1))
    assert _first(found) == (issues.FILE_FORMAT, 4, LINE_TOO_LONG)
    assert found.rows == 7
    assert peak < MEMORY_LIMIT


def test_fifty_megabyte_csv_line_is_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "giant.csv", HEADER + b"0,0,", b"y" * 1_000_000, b"\n", repeat=50)
    found, peak = _measured(lambda: _validate(path, min_rows=1))
    assert _first(found) == (issues.FILE_FORMAT, 2, LINE_TOO_LONG)
    assert (found.rows, found.total_issues) == (1, 1)
    assert peak < MEMORY_LIMIT


def test_fifty_megabytes_without_a_newline_is_one_long_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "no-newline.jsonl", b"", b"z" * 1_000_000, b"", repeat=50)
    found, peak = _measured(lambda: _validate(path, min_rows=1))
    assert _first(found) == (issues.FILE_FORMAT, 1, LINE_TOO_LONG)
    assert peak < MEMORY_LIMIT


@pytest.mark.skipif(not HAS_VALIDATOR, reason="tuneyard.datasets.validator is not there yet")
def test_openai_chat_giant_line_is_skipped(tmp_path: Path) -> None:
    from tuneyard.datasets import validator

    head = b'{"messages": [{"role": "user", "content": "'
    path = _write(tmp_path / "chat.jsonl", head, b"x" * 1_000_000, b'"}]}\n', repeat=50)
    found, peak = _measured(lambda: validator.validate(path, filename=path.name, fmt="openai-chat"))
    assert _first(found) == (issues.FILE_FORMAT, 1, LINE_TOO_LONG)
    assert peak < MEMORY_LIMIT


# --- deeply nested JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 100_000,
        b'{"a": ' * 100_000,
        b'{"C_ID": 0, "T_ID": 0, "Text": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b', "Completion": 1}',
    ],
    ids=["arrays", "objects", "closed-inside-a-row"],
)
def test_json_nested_a_hundred_thousand_deep(tmp_path: Path, line: bytes) -> None:
    path = _write(tmp_path / "deep.jsonl", _rows(2), line + b"\n", _rows(2, start=2))
    found = _validate(path, min_rows=1)
    assert _first(found) == (
        issues.FILE_FORMAT,
        3,
        "Invalid json format. line 3: nesting too deep",
    )
    assert found.rows == 5


@pytest.mark.skipif(not HAS_VALIDATOR, reason="tuneyard.datasets.validator is not there yet")
def test_openai_chat_nested_a_hundred_thousand_deep(tmp_path: Path) -> None:
    from tuneyard.datasets import validator

    path = _write(tmp_path / "deep.jsonl", b'{"messages": ' + b"[" * 100_000 + b"\n")
    found = validator.validate(path, filename=path.name, fmt="openai-chat")
    reason, line, message = _first(found)
    assert (reason, line) == (issues.FILE_FORMAT, 1)
    assert message.startswith("Invalid json format. line 1: ")


# --- JSON that orjson reads differently from the standard library ------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            b'{"C_ID": 0, "T_ID": 0, "Text": "a", "Text": "b", "Completion": "c"}',
            "Invalid dataset: duplicate columns. Text",
        ),
        (
            b'{"C_ID": 0, "T_ID": 0, "Text": "a: b", "Completion": "c: d", "Completion": "e"}',
            "Invalid dataset: duplicate columns. Completion",
        ),
        (  # the escaped colon makes the colons add up as if no key were repeated
            b'{"C_ID":0,"T_ID":0,"Text":"x","Text":"\\u003a","Completion":"c"}',
            "Invalid dataset: duplicate columns. Text",
        ),
        (
            b'{"C_ID": NaN, "T_ID": 0, "Text": "a", "Completion": "b"}',
            "Invalid dataset: C_ID",
        ),
    ],
    ids=["repeated-key", "repeated-key-colons-in-texts", "repeated-key-escaped-colon", "nan"],
)
def test_what_orjson_would_hide_is_reported(tmp_path: Path, line: bytes, message: str) -> None:
    path = _write(tmp_path / "tricky.jsonl", _rows(1), line + b"\n")
    found = _validate(path, min_rows=1)
    assert _first(found) == (issues.FILE_FORMAT, 2, message)


def test_integer_past_64_bits_reads_as_its_digits(tmp_path: Path) -> None:
    line = b'{"C_ID": 0, "T_ID": 0, "Text": 123456789012345678901234567890, "Completion": "c"}'
    path = _write(tmp_path / "digits.jsonl", line + b"\n")
    limits = report.Limits(min_rows=1)
    examples = clova.load_examples(
        path, filename=path.name, task_type=TaskType.GENERATION, limits=limits
    )
    assert examples[0].messages[0].content == "123456789012345678901234567890"


# --- bytes that are not text ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["inside-a-string", "between-keys", "own-line"])
def test_nul_byte_mid_file_is_the_whole_report(tmp_path: Path, where: str) -> None:
    nul = {
        "inside-a-string": b'{"C_ID": 0, "T_ID": 0, "Text": "a\x00b", "Completion": "c"}\n',
        "between-keys": b'{"C_ID": 0,\x00 "T_ID": 0, "Text": "a", "Completion": "c"}\n',
        "own-line": b"\x00\n",
    }[where]
    path = _write(tmp_path / "nul.jsonl", _rows(50_000), nul, _rows(50_000, start=50_000))
    found = _validate(path)
    assert _first(found) == (issues.FILE_ENCODING, 50_001, "Unsupported charset")
    assert found.total_issues == 1


def test_nul_byte_mid_csv_is_the_whole_report(tmp_path: Path) -> None:
    rows = b"".join(b"%d,0,question,answer\n" % c_id for c_id in range(50_000))
    path = _write(tmp_path / "nul.csv", HEADER + rows, b"50000,0,a\x00b,c\n", rows)
    found = _validate(path)
    assert _first(found) == (issues.FILE_ENCODING, 50_002, "Unsupported charset")
    assert found.total_issues == 1


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_zip_renamed_jsonl_is_not_text(tmp_path: Path, compression: int) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr("train.jsonl", _rows(100_000))
    path = _write(tmp_path / "train.jsonl", buffer.getvalue())
    found, peak = _measured(lambda: _validate(path))
    assert _first(found) == (issues.FILE_ENCODING, 1, "Unsupported charset")
    assert found.total_issues == 1
    assert peak < MEMORY_LIMIT


# --- CSV ---------------------------------------------------------------------------------


def test_csv_unterminated_quote_then_twenty_megabytes(tmp_path: Path) -> None:
    line = b"x" * 999 + b"\n"
    path = _write(tmp_path / "bomb.csv", HEADER + b'0,0,"never closed\n', line, b"", repeat=20_000)
    found, peak = _measured(lambda: _validate(path))
    assert _first(found) == (
        issues.FILE_FORMAT,
        2,
        f"Invalid csv format. line 2: {CSV_FIELD_LIMIT}",
    )
    assert peak < MEMORY_LIMIT


def test_csv_unterminated_quote_then_one_twenty_megabyte_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bomb.csv", HEADER + b'0,0,"open\n', b"q" * 1_000_000, b"", repeat=20)
    found, peak = _measured(lambda: _validate(path, min_rows=1))
    assert [(i.line, i.message) for i in found.issues] == [
        (2, "Invalid csv format. line 2: unexpected end of data"),
        (3, LINE_TOO_LONG),
    ]
    assert peak < MEMORY_LIMIT


def test_csv_field_of_quotes(tmp_path: Path) -> None:
    path = _write(tmp_path / "quotes.csv", HEADER + b'0,0,"', b'""' * 400_000, b'",b\n')
    found, peak = _measured(lambda: _validate(path, min_rows=1))
    assert _first(found) == (
        issues.FILE_FORMAT,
        2,
        f"Invalid csv format. line 2: {CSV_FIELD_LIMIT}",
    )
    assert peak < MEMORY_LIMIT


def test_header_with_a_million_columns(tmp_path: Path) -> None:
    header = b"," * 999_999 + b"\n"  # a million empty names, one byte under the line limit
    path = _write(tmp_path / "wide.csv", header, b"0,0,a,b\n")
    found, peak = _measured(lambda: _validate(path, min_rows=1))
    assert _first(found) == (
        issues.FILE_FORMAT,
        1,
        "Invalid dataset: unexpected column. column 1",
    )
    assert found.total_issues == 1_000_000 + 4  # each column, then each required one missing
    assert len(found.issues) == 100
    assert peak < MEMORY_LIMIT


def test_header_with_a_million_columns_past_the_line_limit(tmp_path: Path) -> None:
    header = HEADER.rstrip() + b",extra" * 1_000_000 + b"\n"
    path = _write(tmp_path / "wider.csv", header, b"0,0,a,b\nnot-an-id,0,a,b\n")
    found, peak = _measured(lambda: _validate(path, min_rows=1))
    assert [(i.line, i.message) for i in found.issues] == [(1, LINE_TOO_LONG)]
    assert found.rows == 2  # counted, but without a header nothing is said about them
    assert peak < MEMORY_LIMIT


# --- empty, deleted, cut short -------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    found = _validate(_write(tmp_path / name, b""))
    assert _first(found) == (
        issues.FILE_FORMAT,
        None,
        "Invalid dataset: at least 100 rows are required, found 0.",
    )
    assert found.total_issues == 1


def _read_while(path: Path, change: Callable[[], None]) -> tuple[int, issues.DatasetIssue | None]:
    """How many lines a reader yields, and its failure, when `change` comes after line 1."""
    reader = source.LineReader(path, 1_000_000)
    count = 0
    for line in reader:
        if line.number == 1:
            change()
        count += 1
    return count, reader.failure


def test_file_deleted_while_read_reads_whole(tmp_path: Path) -> None:
    path = _write(tmp_path / "gone.jsonl", _rows(100_000))
    assert _read_while(path, path.unlink) == (100_000, None)
    assert not path.exists()


def test_file_cut_short_while_read_is_a_read_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.jsonl", _rows(100_000))
    count, failure = _read_while(path, lambda: os.truncate(path, 1000))
    assert count < 100_000
    assert failure == issues.read_error("the file shrank while it was being read")


def _validate_while(path: Path, change: Callable[[], None]) -> report.DatasetReport:
    """Validate `path`, making `change` at the first progress report (after the first chunk)."""
    changes = [change]

    def on_progress(done: int) -> None:
        if changes:
            changes.pop()()

    return clova.validate(
        path, filename=path.name, task_type=TaskType.GENERATION, on_progress=on_progress
    )


def test_validate_a_file_deleted_midway(tmp_path: Path) -> None:
    path = _write(tmp_path / "gone.jsonl", _rows(100_000))
    found = _validate_while(path, path.unlink)
    assert (found.ok, found.rows, found.conversations) == (True, 100_000, 100_000)


def test_validate_a_file_cut_short_midway(tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.jsonl", _rows(100_000))
    found = _validate_while(path, lambda: os.truncate(path, 1000))
    assert _first(found) == (
        issues.FILE_ERROR,
        None,
        "File read error: the file shrank while it was being read",
    )
    assert found.total_issues == 1


def test_reader_of_a_file_deleted_before_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "never.jsonl"
    lines = source.LineReader(path, 1_000_000)
    assert list(lines) == []
    assert lines.failure == issues.missing_file()
