"""CLOVA dataset validation and reading: every seed failureReason, bounded memory, examples."""

from __future__ import annotations

import csv
import io
import json
import random
import tracemalloc
from pathlib import Path

import pytest

from tuneyard.datasets import clova, issues, report, source, validator
from tuneyard.datasets.examples import Example, Message
from tuneyard.kinds import TaskType

FIXTURES = Path(__file__).parents[1] / "fixtures" / "datasets"
EXPECTED: dict[str, dict[str, object]] = json.loads(
    (FIXTURES / "expected.json").read_text(encoding="utf-8")
)
GEN = TaskType.GENERATION
CLS = TaskType.CLASSIFICATION
HEADER = "C_ID,T_ID,Text,Completion\n"
ONE_ROW = report.Limits(min_rows=1)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _validate(path: Path, task_type: TaskType = GEN, **limits: int) -> report.DatasetReport:
    return clova.validate(
        path, filename=path.name, task_type=task_type, limits=report.Limits(**limits)
    )


def _messages(found: report.DatasetReport) -> list[tuple[int | None, str]]:
    return [(issue.line, issue.message) for issue in found.issues]


def _generation_rows(conversations: int = 40, turns: int = 3) -> list[dict[str, object]]:
    """120 rows by default: every other conversation has a system prompt."""
    return [
        {
            "System_Prompt": f"You are assistant #{c}, be brief." if c % 2 == 0 else "",
            "C_ID": c,
            "T_ID": t,
            "Text": f'Question {c}.{t}, with "quotes",\ncommas and 한국어',
            "Completion": f"Answer {c}.{t}",
        }
        for c in range(conversations)
        for t in range(turns)
    ]


def _to_csv(rows: list[dict[str, object]], header: list[str] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header or list(rows[0]))
    writer.writerows(row.values() for row in rows)
    return buffer.getvalue()


def _to_jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


# --- the fixture manifest ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_reports_its_expected_first_issue(name: str) -> None:
    expected = dict(EXPECTED[name])
    fmt = expected.pop("format", source.format_of(name))  # null: detected; absent: CLOVA
    assert fmt is None or isinstance(fmt, str)
    limits = report.Limits(max_bytes=int(expected.pop("max_bytes", 1_000_000_000)))
    if expected.pop("absent", False):  # an entry that names a file that is not there
        assert not (FIXTURES / name).exists()
    found = validator.validate(FIXTURES / name, filename=name, fmt=fmt, limits=limits)
    assert not found.ok
    assert found.first is not None
    first = {"reason": found.first.reason, "message": found.first.message}
    assert {**first, "line": found.first.line} == expected


def test_every_fixture_is_in_the_manifest() -> None:
    on_disk = {path.name for path in FIXTURES.iterdir()} - {"expected.json"}
    assert on_disk == {name for name, entry in EXPECTED.items() if not entry.get("absent")}
    assert len(on_disk) >= 40


def test_fixtures_cover_every_seed_reason_the_reader_can_see() -> None:
    reasons = {str(expected["reason"]) for expected in EXPECTED.values()}
    assert reasons == {
        issues.FILE_EXTENSION,
        issues.FILE_SIZE,
        issues.FILE_ENCODING,
        issues.FILE_FORMAT,
        issues.FILE_ERROR,
        issues.FILE_NOEXIST,
    }


# --- checks before and while reading ----------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [(1_000_000_000, "1GB"), (100_000_000, "100MB"), (1_500_000, "1.5MB"), (999, "999B")],
)
def test_format_bytes(n: int, text: str) -> None:
    assert issues.format_bytes(n) == text


def test_missing_file_is_noexist(tmp_path: Path) -> None:
    found = clova.validate(tmp_path / "gone", filename="train.csv", task_type=GEN)
    assert _messages(found) == [(None, "The dataset file does not exist.")]
    assert found.first is not None and found.first.reason == issues.FILE_NOEXIST


def test_size_is_checked_before_reading(tmp_path: Path) -> None:
    path = _write(tmp_path, "blob", b"\xff\xfe not even utf-8")
    found = clova.validate(
        path, filename="train.csv", task_type=GEN, limits=report.Limits(max_bytes=10)
    )
    expected = "Exceeded the disk usage limit. Please check if the file size is 10B or less."
    assert _messages(found) == [(None, expected)]
    assert found.first is not None and found.first.reason == issues.FILE_SIZE


def test_unreadable_file_is_file_error(tmp_path: Path) -> None:
    found = clova.validate(tmp_path, filename="train.jsonl", task_type=GEN)
    assert _messages(found) == [(None, "File read error: Is a directory")]
    assert found.first is not None and found.first.reason == issues.FILE_ERROR


def test_extension_comes_from_the_client_filename(tmp_path: Path) -> None:
    path = _write(tmp_path, "blob-without-extension", HEADER + "0,0,a,b\n")
    assert clova.validate(path, filename="train.CSV", task_type=GEN, limits=ONE_ROW).ok
    found = clova.validate(path, filename="train.tsv", task_type=GEN, limits=ONE_ROW)
    assert found.first is not None and found.first.reason == issues.FILE_EXTENSION


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.csv", "\ufeff" + HEADER + "0,0,a,b\n")
    assert _validate(path, min_rows=1).ok


def test_encoding_failure_is_the_whole_report(tmp_path: Path) -> None:
    content = (HEADER + "0,0,,b\n5,0,c,d\n").encode() + b"0,1,caf\xe9,d\n"
    found = _validate(_write(tmp_path, "mixed.csv", content))
    assert _messages(found) == [(4, "Unsupported charset")]
    assert found.total_issues == 1


def test_multibyte_characters_across_chunk_boundaries(tmp_path: Path) -> None:
    rows = [
        {"C_ID": 0, "T_ID": t, "Text": "가나다" * (t % 7 + 1), "Completion": "é"}
        for t in range(9000)
    ]
    path = _write(tmp_path, "big.jsonl", "\ufeff" + _to_jsonl(rows))
    assert path.stat().st_size > 4 * source.CHUNK_BYTES
    examples = clova.load_examples(path, filename=path.name, task_type=GEN)
    assert examples[0].messages[-2] == Message("user", "가나다" * (8999 % 7 + 1))


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_ten_megabyte_line_is_skipped_in_bounded_memory(tmp_path: Path, suffix: str) -> None:
    if suffix == "csv":
        content = HEADER + "x" * 10_000_000 + "\nnot-an-id,0,a,b\n"
    else:
        content = '{"C_ID": 0, "T_ID": 0, "Text": "' + "x" * 10_000_000 + '"}\n'
        content += '{"C_ID": "x", "T_ID": 0, "Text": "a", "Completion": "b"}\n'
    path = _write(tmp_path, f"huge.{suffix}", content)
    tracemalloc.start()
    try:
        found = _validate(path, min_rows=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000
    line = 2 if suffix == "csv" else 1
    assert _messages(found)[:2] == [
        (line, "Invalid dataset: line longer than 1MB."),
        (line + 1, "Invalid dataset: C_ID"),
    ]


def test_deeply_nested_json_does_not_crash(tmp_path: Path) -> None:
    path = _write(tmp_path, "deep.jsonl", "[" * 200_000 + "\n")
    assert _messages(_validate(path, min_rows=1)) == [
        (1, "Invalid json format. line 1: nesting too deep")
    ]


def test_csv_field_over_the_csv_limit_is_a_format_issue(tmp_path: Path) -> None:
    path = _write(tmp_path, "wide.csv", HEADER + '0,0,"' + "y" * 200_000 + '",b\n')
    found = _validate(path, min_rows=1)
    assert _messages(found)[0] == (
        2,
        f"Invalid csv format. line 2: field larger than field limit ({csv.field_size_limit()})",
    )


def test_row_longer_than_the_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, "long.csv", HEADER + "0,0,abcdef,ghijkl\n")
    found = _validate(path, min_rows=1, max_row_chars=10)
    assert _messages(found) == [(2, "Invalid dataset: row too long. Completion")]


# --- every issue, in file order ---------------------------------------------------------


def test_every_issue_is_reported_in_file_order(tmp_path: Path) -> None:
    content = HEADER + "0,0,a,b\n0,1,,d\n2,0,e,f\n0,1,g,h\n"
    found = _validate(_write(tmp_path, "three.csv", content), min_rows=1)
    assert _messages(found) == [
        (3, "Invalid dataset: required field empty. Text"),
        (4, "Invalid dataset: C_ID"),
        (5, "Invalid dataset: T_ID"),
    ]
    assert found.total_issues == 3


def test_issues_are_capped_but_all_counted(tmp_path: Path) -> None:
    content = HEADER + "".join(f"0,{t},,b\n" for t in range(50))
    found = _validate(_write(tmp_path, "many.csv", content), min_rows=1, max_issues=5)
    assert [issue.line for issue in found.issues] == [2, 3, 4, 5, 6]
    assert found.total_issues == 50


def test_json_ids_may_be_numbers_or_numeric_strings(tmp_path: Path) -> None:
    content = '{"c_id": 0, "t_id": "0", "TEXT": "a", "Completion": "b"}\n'
    content += '{"Completion": "d", "Text": "c", "T_ID": 1, "C_ID": "0"}\n'
    assert _validate(_write(tmp_path, "ids.jsonl", content), min_rows=1).ok


def test_headers_are_case_insensitive(tmp_path: Path) -> None:
    content = "system_prompt,c_id,T_id,TEXT,completion\ns,0,0,a,b\n"
    assert _validate(_write(tmp_path, "lower.csv", content), min_rows=1).ok


# --- reading examples -------------------------------------------------------------------


def test_csv_and_jsonl_give_identical_examples(tmp_path: Path) -> None:
    rows = _generation_rows()
    csv_path = _write(tmp_path, "train.csv", _to_csv(rows))
    jsonl_path = _write(tmp_path, "train.jsonl", _to_jsonl(rows))
    found = _validate(csv_path)
    assert (found.ok, found.rows, found.conversations, found.labels) == (True, 120, 40, None)
    from_csv = clova.load_examples(csv_path, filename="train.csv", task_type=GEN)
    from_jsonl = clova.load_examples(jsonl_path, filename="train.jsonl", task_type=GEN)
    assert from_csv == from_jsonl
    assert len(from_csv) == 40
    first = from_csv[0].messages
    assert first[0] == Message("system", "You are assistant #0, be brief.")
    assert first[1] == Message("user", 'Question 0.0, with "quotes",\ncommas and 한국어')
    assert [m.role for m in first] == ["system"] + ["user", "assistant"] * 3
    assert from_csv[1].messages[0].role == "user"


def test_rows_may_come_in_any_order(tmp_path: Path) -> None:
    rows = _generation_rows()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    in_order = _write(tmp_path, "a.csv", _to_csv(rows))
    mixed = _write(tmp_path, "b.csv", _to_csv(shuffled))
    load = clova.load_examples
    assert load(in_order, filename="a.csv", task_type=GEN) == load(
        mixed, filename="b.csv", task_type=GEN
    )


def test_classification_examples_and_labels(tmp_path: Path) -> None:
    rows = [
        {"C_ID": i, "T_ID": 0, "Text": f"review {i}", "Completion": [" good", "bad "][i % 2]}
        for i in range(120)
    ]
    path = _write(tmp_path, "cls.csv", _to_csv(rows))
    found = _validate(path, CLS)
    assert (found.ok, found.rows, found.conversations, found.labels) == (
        True,
        120,
        120,
        ("bad", "good"),
    )
    examples = clova.load_examples(path, filename="cls.csv", task_type=CLS)
    assert examples[1] == Example((Message("user", "review 1"),), "bad")


def test_load_examples_raises_with_the_report() -> None:
    with pytest.raises(report.DatasetInvalid) as caught:
        clova.load_examples(FIXTURES / "c_id_gap.csv", filename="c_id_gap.csv", task_type=GEN)
    assert caught.value.report.total_issues == 2
    assert str(caught.value) == "line 4, C_ID: Invalid dataset: C_ID (and 1 more)"


# --- report shapes and boundaries -------------------------------------------------------


def test_report_to_dict_is_json() -> None:
    found = _validate(FIXTURES / "t_id_gap.csv")
    data = json.loads(json.dumps(found.to_dict()))
    assert data["ok"] is False
    assert data["issues"][0] == {
        "reason": "file.format",
        "message": "Invalid dataset: T_ID",
        "line": 3,
        "field": "T_ID",
    }


@pytest.mark.parametrize(
    ("issue", "text"),
    [
        (issues.bad_value("C_ID", 7), "line 7, C_ID: Invalid dataset: C_ID"),
        (issues.column_order(1), "line 1: Invalid dataset: column order"),
        (issues.missing_file(), "The dataset file does not exist."),
    ],
)
def test_describe(issue: issues.DatasetIssue, text: str) -> None:
    assert issue.describe() == text
