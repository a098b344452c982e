"""Every vendor's dataset format: detection, neutral examples, every issue at once, streaming."""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest

from tuneyard.datasets import issues, progress, report, source, validator
from tuneyard.datasets.examples import Example, Message
from tuneyard.kinds import TaskType

ONE = report.Limits(min_rows=1, min_rows_per_label=1)
SYSTEM, USER, ASSISTANT = "system", "user", "assistant"
Found = list[tuple[int | None, str, str | None]]


def _m(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _write(tmp_path: Path, name: str, lines: Sequence[object]) -> Path:
    path = tmp_path / name
    text = "".join(
        (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines
    )
    path.write_text(text, encoding="utf-8")
    return path


def _read(
    path: Path, fmt: str | None = None, task_type: TaskType = TaskType.GENERATION
) -> list[Example]:
    return validator.load_examples(
        path, filename=path.name, fmt=fmt, task_type=task_type, limits=ONE
    )


def _issues(found: report.DatasetReport) -> Found:
    return [(issue.line, issue.message, issue.kind) for issue in found.issues]


# The same two conversations, and the same preference pair, in every vendor's form.
CONVERSATION = (
    Message(SYSTEM, "You are a terse assistant."),
    Message(USER, "Capital of Korea?"),
    Message(ASSISTANT, "Seoul."),
    Message(USER, "And of Japan? 日本"),
    Message(ASSISTANT, "Tokyo."),
)
SINGLE = (Message(USER, 'Say "hi",\nplease'), Message(ASSISTANT, "hi"))
PROMPT = (Message(SYSTEM, "Be kind."), Message(USER, "Hi"), Message(ASSISTANT, "Hello!"))
PAIR = Example(
    (*PROMPT, Message(USER, "Tell me a joke")),
    chosen=(Message(ASSISTANT, "Why did the GPU sweat? Too many cores."),),
    rejected=(Message(ASSISTANT, "No."),),
)
CHATML = [
    {"messages": [_m(m.role, m.content) for m in CONVERSATION]},
    {"messages": [_m(m.role, m.content) for m in SINGLE]},
]
QIANFAN = [
    [
        {
            "system": "You are a terse assistant.",
            "prompt": "Capital of Korea?",
            "response": "Seoul.",
        },
        {"user": "And of Japan? 日本", "assistant": [["Tokyo."]], "weight": 1},
    ],
    [{"system": "", "prompt": 'Say "hi",\nplease', "response": "hi"}],
]
CLOVA = [
    {
        "System_Prompt": "You are a terse assistant.",
        "C_ID": 0,
        "T_ID": 0,
        "Text": "Capital of Korea?",
        "Completion": "Seoul.",
    },
    {
        "System_Prompt": "You are a terse assistant.",
        "C_ID": 0,
        "T_ID": 1,
        "Text": "And of Japan? 日本",
        "Completion": "Tokyo.",
    },
    {"System_Prompt": "", "C_ID": 1, "T_ID": 0, "Text": 'Say "hi",\nplease', "Completion": "hi"},
]
OPENAI_DPO = {
    "input": {"messages": [_m(m.role, m.content) for m in PAIR.messages], "tools": []},
    "preferred_output": [_m(ASSISTANT, "Why did the GPU sweat? Too many cores.")],
    "non_preferred_output": [_m(ASSISTANT, "No.")],
}
DASHSCOPE_DPO = {
    "messages": [_m(m.role, m.content) for m in PAIR.messages],
    "chosen": _m(ASSISTANT, "Why did the GPU sweat? Too many cores."),
    "rejected": _m(ASSISTANT, "No."),
}
QIANFAN_DPO = [
    {"system": "Be kind.", "user": "Hi", "assistant": "Hello!"},
    {
        "prompt": "Tell me a joke",
        "chosen": "Why did the GPU sweat? Too many cores.",
        "rejected": [["No."]],
    },
]


def _clova_csv(tmp_path: Path) -> Path:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(CLOVA[0]))
    writer.writerows(row.values() for row in CLOVA)
    path = tmp_path / "clova.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# --- every format reads into exact examples -----------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "lines", "expected"),
    [
        (
            "openai-chat",
            [
                {
                    "messages": [
                        _m("developer", "Be brief."),
                        {"role": "user", "content": "Hi", "name": "ana"},
                        {"role": "assistant", "content": "Hello!", "weight": 1},
                    ],
                    "parallel_tool_calls": False,
                },
                *CHATML,
            ],
            [
                Example(
                    (
                        Message(SYSTEM, "Be brief."),
                        Message(USER, "Hi"),
                        Message(ASSISTANT, "Hello!"),
                    )
                ),
                Example(CONVERSATION),
                Example(SINGLE),
            ],
        ),
        ("dashscope-sft", CHATML, [Example(CONVERSATION), Example(SINGLE)]),
        ("qianfan-sft", QIANFAN, [Example(CONVERSATION), Example(SINGLE)]),
        ("clova-jsonl", CLOVA, [Example(CONVERSATION), Example(SINGLE)]),
        ("openai-dpo", [OPENAI_DPO], [PAIR]),
        ("dashscope-dpo", [DASHSCOPE_DPO], [PAIR]),
        ("qianfan-dpo", [QIANFAN_DPO], [PAIR]),
        (
            "dashscope-cpt",
            [{"text": "First document.\nTwo lines."}, "", {"text": "  Second, 두 번째.  "}],
            [
                Example((), text="First document.\nTwo lines."),
                Example((), text="  Second, 두 번째.  "),
            ],
        ),
    ],
)
def test_each_format_reads_into_exact_examples(
    tmp_path: Path, fmt: str, lines: list[object], expected: list[Example]
) -> None:
    path = _write(tmp_path, "train.jsonl", lines)
    assert _read(path, fmt) == expected
    assert _read(path) == expected  # and detected from the content
    found = validator.validate(path, filename="train.jsonl", limits=ONE)
    detected = "openai-chat" if fmt == "dashscope-sft" else fmt  # they share one shape
    assert (found.ok, found.format) == (True, detected)


def test_clova_csv_reads_into_exact_examples(tmp_path: Path) -> None:
    path = _clova_csv(tmp_path)
    assert _read(path, "clova-csv") == [Example(CONVERSATION), Example(SINGLE)]
    assert validator.validate(path, filename="clova.csv", limits=ONE).format == "clova-csv"


def test_the_same_conversations_in_every_vendor_form(tmp_path: Path) -> None:
    forms = {
        "openai-chat": _write(tmp_path, "openai.jsonl", CHATML),
        "dashscope-sft": _write(tmp_path, "dashscope.jsonl", CHATML),
        "qianfan-sft": _write(tmp_path, "qianfan.jsonl", QIANFAN),
        "clova-jsonl": _write(tmp_path, "clova.jsonl", CLOVA),
        "clova-csv": _clova_csv(tmp_path),
    }
    read = {fmt: _read(path, fmt) for fmt, path in forms.items()}
    assert all(examples == read["openai-chat"] for examples in read.values())
    assert [e.messages for e in read["openai-chat"]] == [CONVERSATION, SINGLE]


def test_the_same_preference_pair_in_every_vendor_form(tmp_path: Path) -> None:
    forms = {"openai-dpo": OPENAI_DPO, "dashscope-dpo": DASHSCOPE_DPO, "qianfan-dpo": QIANFAN_DPO}
    for fmt, line in forms.items():
        assert _read(_write(tmp_path, f"{fmt}.jsonl", [line]), fmt) == [PAIR], fmt


# --- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (CHATML[0], "openai-chat"),
        (OPENAI_DPO, "openai-dpo"),
        (DASHSCOPE_DPO, "dashscope-dpo"),
        ({"text": "doc"}, "dashscope-cpt"),
        (QIANFAN[0], "qianfan-sft"),
        (QIANFAN_DPO, "qianfan-dpo"),
        (CLOVA[0], "clova-jsonl"),
        ({"c_id": 0, "text": "a"}, "clova-jsonl"),
        ({"TEXT": "a", "Completion": "b"}, "clova-jsonl"),
        ({"prompt": "a", "completion": "b"}, None),
        ({"input": "a"}, None),
        ("42", None),
        ("{not json", None),
    ],
)
def test_detect_from_the_first_record(tmp_path: Path, first: object, expected: str | None) -> None:
    path = _write(tmp_path, "data.jsonl", ["", " \t", first, "[]"])
    assert validator.detect(path, "data.jsonl") == expected
    assert validator.detect(path, "data.JSON") == expected


def test_detect_from_the_extension(tmp_path: Path) -> None:
    path = _write(tmp_path, "blob", [CHATML[0]])
    assert validator.detect(path, "train.CSV") == "clova-csv"
    assert validator.detect(path, "train.txt") is None
    assert validator.detect(tmp_path / "gone.jsonl", "gone.jsonl") is None
    (tmp_path / "empty.jsonl").write_bytes(b"\n\n")
    assert validator.detect(tmp_path / "empty.jsonl", "empty.jsonl") is None


def test_dashscope_sft_is_openai_chat_with_dashscope_rules(tmp_path: Path) -> None:
    line = {"messages": [_m(USER, "Hi"), {"role": "assistant", "content": "Yo", "name": "bot"}]}
    path = _write(tmp_path, "train.jsonl", [line])
    assert validator.validate(path, filename=path.name, limits=ONE).ok
    found = validator.validate(path, filename=path.name, fmt="dashscope-sft", limits=ONE)
    assert _issues(found) == [
        (
            1,
            "Invalid dataset: message unrecognized key. messages[1].name",
            "message_unrecognized_key",
        )
    ]


# --- every issue at once, per vendor -----------------------------------------------------


THREE_PROBLEMS: dict[str, tuple[list[object], Found]] = {
    "openai-chat": (
        [
            CHATML[0],
            {"messages": [_m("bot", "Hi"), _m(ASSISTANT, "Yo")]},
            '{"messages": [',
            {"messages": [_m(SYSTEM, "s"), _m(USER, "Hi")]},
        ],
        [
            (2, "Invalid dataset: unrecognized role. messages[0].role", "unrecognized_role"),
            (3, "Invalid json format. line 3: unexpected end of data (column 15)", "invalid_json"),
            (
                4,
                "Invalid dataset: example missing assistant message. messages",
                "example_missing_assistant_message",
            ),
        ],
    ),
    "dashscope-dpo": (
        [
            {**DASHSCOPE_DPO, "messages": [_m(USER, "Hi"), _m(ASSISTANT, "Yo")]},
            DASHSCOPE_DPO,
            {"messages": [_m(USER, "Hi")], "chosen": _m(USER, "Yo"), "rejected": _m(ASSISTANT, "")},
        ],
        [
            (1, "Invalid dataset: last message not user. messages", "last_message_not_user"),
            (3, "Invalid dataset: unrecognized role. chosen.role", "unrecognized_role"),
            (3, "Invalid dataset: missing content. rejected.content", "missing_content"),
        ],
    ),
    "qianfan-sft": (
        [
            QIANFAN[0],
            {"prompt": "Hi", "response": "Yo"},
            [{"prompt": "Hi", "response": "Yo"}, {"prompt": "   ", "response": "Yo", "weight": 0}],
        ],
        [
            (2, "Invalid json format. line 2: expected an array, found object", "data_type"),
            (3, "Invalid dataset: missing content. [1].prompt", "missing_content"),
            (3, "Invalid dataset: unsupported weight. [1].weight", "unsupported_weight"),
        ],
    ),
}


@pytest.mark.parametrize("fmt", sorted(THREE_PROBLEMS))
def test_every_issue_at_once_with_line_field_and_kind(tmp_path: Path, fmt: str) -> None:
    lines, expected = THREE_PROBLEMS[fmt]
    found = validator.validate(_write(tmp_path, "bad.jsonl", lines), filename="bad.jsonl", fmt=fmt)
    too_few = "Invalid dataset: at least 10 examples are required, found"
    assert _issues(found) == [*expected, (None, f"{too_few} {len(lines)}.", "invalid_n_examples")]
    assert found.total_issues == 4 and found.rows == found.conversations == len(lines)


def test_issue_kind_is_in_to_dict_only_when_set(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.jsonl", [{"messages": [_m("bot", "Hi")]}])
    found = validator.validate(path, filename=path.name, fmt="openai-chat", limits=ONE)
    assert found.to_dict()["issues"][0] == {
        "reason": "file.format",
        "message": "Invalid dataset: unrecognized role. messages[0].role",
        "line": 1,
        "field": "messages[0].role",
        "kind": "unrecognized_role",
    }
    assert "kind" not in issues.bad_value("C_ID", 2).to_dict()


@pytest.mark.parametrize(("min_rows", "minimum"), [(100, 10), (3, 3)])
def test_the_jsonl_minimum_is_ten_or_the_limit_if_lower(
    tmp_path: Path, min_rows: int, minimum: int
) -> None:
    path = _write(tmp_path, "few.jsonl", CHATML)
    found = validator.validate(path, filename=path.name, limits=report.Limits(min_rows=min_rows))
    expected = f"Invalid dataset: at least {minimum} examples are required, found 2."
    assert _issues(found) == [(None, expected, "invalid_n_examples")]


# --- streaming: on_example and on_progress -----------------------------------------------


def test_on_example_gets_each_valid_example_as_it_is_built(tmp_path: Path) -> None:
    lines: list[object] = [CHATML[0], {"messages": []}, CHATML[1], "{"]
    path = _write(tmp_path, "mixed.jsonl", lines)
    seen: list[Example] = []
    found = validator.validate(path, filename=path.name, limits=ONE, on_example=seen.append)
    assert seen == [Example(CONVERSATION), Example(SINGLE)]
    assert (found.rows, found.total_issues) == (4, 2)


def test_on_example_for_clova_files(tmp_path: Path) -> None:
    seen: list[Example] = []
    path = _write(tmp_path, "clova.jsonl", CLOVA)
    assert validator.validate(path, filename=path.name, limits=ONE, on_example=seen.append).ok
    assert seen == [Example(CONVERSATION), Example(SINGLE)]


def test_on_progress_is_throttled_and_ends_at_the_file_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "big.jsonl", CHATML * 5_000)
    assert path.stat().st_size > 8 * source.CHUNK_BYTES
    clock = iter(range(10**6))
    tick = progress.INTERVAL_S / 10
    monkeypatch.setattr(time, "monotonic", lambda: next(clock) * tick)  # a tenth per line
    for fmt in ("openai-chat", None):
        calls: list[int] = []
        found = validator.validate(path, filename=path.name, fmt=fmt, on_progress=calls.append)
        assert found.ok
        assert 900 <= len(calls) <= 1_002  # one call per ten lines, and the last
        assert calls == sorted(calls) and calls[0] > 0 and calls[-1] == path.stat().st_size


def test_on_progress_for_clova_files(tmp_path: Path) -> None:
    calls: list[int] = []
    path = _clova_csv(tmp_path)
    validator.validate(path, filename=path.name, limits=ONE, on_progress=calls.append)
    assert calls[-1] == path.stat().st_size


def test_a_huge_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    huge = '{"messages": [{"role": "user", "content": "' + "x" * 10_000_000 + '"}]}'
    path = _write(tmp_path, "huge.jsonl", [huge, {"messages": [_m("bot", "Hi")]}])
    tracemalloc.start()
    try:
        found = validator.validate(path, filename=path.name, fmt="openai-chat", limits=ONE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000
    assert _issues(found)[:2] == [
        (1, "Invalid dataset: line longer than 1MB.", "line_too_long"),
        (2, "Invalid dataset: unrecognized role. messages[0].role", "unrecognized_role"),
    ]


# --- classification, loading, files that cannot be read ----------------------------------


def test_classification_from_chat_lines(tmp_path: Path) -> None:
    lines = [
        {"messages": [_m(SYSTEM, "Classify."), _m(USER, "great!"), _m(ASSISTANT, " good ")]},
        [{"prompt": "awful", "response": "bad"}],
    ]
    openai_path = _write(tmp_path, "cls.jsonl", [lines[0]] * 2)
    qianfan_path = _write(tmp_path, "cls_qf.jsonl", [lines[1]] * 2)
    cls = TaskType.CLASSIFICATION
    found = validator.validate(openai_path, filename="cls.jsonl", task_type=cls, limits=ONE)
    assert (found.ok, found.labels) == (True, ("good",))
    assert _read(openai_path, task_type=cls)[0] == Example(
        (Message(SYSTEM, "Classify."), Message(USER, "great!")), label="good"
    )
    assert _read(qianfan_path, task_type=cls) == [Example((Message(USER, "awful"),), "bad")] * 2
    multi = _write(tmp_path, "multi.jsonl", CHATML)
    found = validator.validate(multi, filename="multi.jsonl", task_type=cls, limits=ONE)
    assert _issues(found) == [
        (
            1,
            "Invalid dataset: classification needs one final reply",
            "classification_needs_one_final_reply",
        )
    ]


def test_load_examples_raises_with_the_report(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.jsonl", [{"messages": [_m("bot", "Hi")]}, CHATML[0]])
    with pytest.raises(report.DatasetInvalid) as caught:
        validator.load_examples(path, filename=path.name)
    assert caught.value.report.total_issues == 3
    assert str(caught.value).startswith("line 1, messages[0].role: Invalid dataset: unrecognized")


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [("train.csv", "openai-chat"), ("train.jsonl", "clova-csv"), ("train.txt", None)],
)
def test_a_named_format_must_match_the_extension(
    tmp_path: Path, filename: str, fmt: str | None
) -> None:
    path = _write(tmp_path, "blob", CHATML)
    found = validator.validate(path, filename=filename, fmt=fmt, limits=ONE)
    assert [issue.reason for issue in found.issues] == [issues.FILE_EXTENSION]


def test_an_unknown_format_name_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset format"):
        validator.validate(tmp_path / "x.jsonl", filename="x.jsonl", fmt="alpaca")


@pytest.mark.parametrize("fmt", [None, "qianfan-sft", "dashscope-cpt"])
def test_encoding_failure_is_the_whole_report(tmp_path: Path, fmt: str | None) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'[{"prompt": "a", "response": "b"}]\n{"text": "caf\xe9"}\n')
    found = validator.validate(path, filename=path.name, fmt=fmt)
    assert [(i.line, i.message) for i in found.issues] == [(2, "Unsupported charset")]


def test_undetectable_file_is_an_unknown_format(tmp_path: Path) -> None:
    path = _write(tmp_path, "legacy.jsonl", ["", {"prompt": "a", "completion": "b"}])
    found = validator.validate(path, filename=path.name)
    assert (found.format, _issues(found)) == (
        None,
        [(2, "Invalid dataset: unknown format", "unknown_format")],
    )


def _mutations(value: object, rng: random.Random) -> object:
    """A hostile variant of a valid JSON value: a part swapped for a value of another type."""
    hostile: list[object] = [None, 0, -1, 1.5, True, "", " ", [], {}, [[]], {"": ""}, "x" * 70]
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: _mutations(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        index = rng.randrange(len(value))
        return [*value[:index], _mutations(value[index], rng), *value[index + 1 :]]
    return rng.choice(hostile)


@pytest.mark.parametrize("fmt", validator.FORMATS[1:])
def test_hostile_lines_never_raise(tmp_path: Path, fmt: str) -> None:
    valid = {
        "clova-jsonl": CLOVA[0],
        "openai-chat": CHATML[0],
        "openai-dpo": OPENAI_DPO,
        "dashscope-sft": CHATML[0],
        "dashscope-dpo": DASHSCOPE_DPO,
        "dashscope-cpt": {"text": "doc"},
        "qianfan-sft": QIANFAN[0],
        "qianfan-dpo": QIANFAN_DPO,
    }[fmt]
    rng = random.Random(fmt)
    lines: list[object] = [json.dumps(_mutations(valid, rng)) for _ in range(400)]
    lines += ["[" * 5_000, '{"a": 1e999}', '"\\ud800"', "\ufeff{}", "nul\\u0000"]
    path = _write(tmp_path, "hostile.jsonl", lines)
    for task_type in TaskType:
        found = validator.validate(path, filename=path.name, fmt=fmt, task_type=task_type)
        assert not found.ok and found.rows == len(lines)
