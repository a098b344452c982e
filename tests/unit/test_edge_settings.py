"""The edge's settings (body, upload, stream limits) and the file-name cleaner."""

from __future__ import annotations

import pytest

from tuneyard import errors
from tuneyard.cli import main
from tuneyard.core.files import MAX_NAME_BYTES, safe_name
from tuneyard.settings import Settings


def test_defaults_and_environment_twins() -> None:
    default = Settings.load(env={})
    assert (default.max_json_bytes, default.max_upload_files) == (1_048_576, 10)
    assert (default.max_streams_per_workspace, default.stream_idle_seconds) == (4, 300.0)
    env = {
        "TUNEYARD_MAX_JSON_BYTES": "4096",
        "TUNEYARD_MAX_UPLOAD_FILES": "3",
        "TUNEYARD_MAX_STREAMS_PER_WORKSPACE": "2",
        "TUNEYARD_STREAM_IDLE_SECONDS": "2.5",
    }
    loaded = Settings.load(env=env)
    assert (loaded.max_json_bytes, loaded.max_upload_files) == (4096, 3)
    assert (loaded.max_streams_per_workspace, loaded.stream_idle_seconds) == (2, 2.5)


def test_serve_flags_override_the_environment() -> None:
    args = main._parser().parse_args(
        ["serve", "--max-json-bytes", "2048", "--max-upload-files", "1",
         "--max-streams-per-workspace", "7", "--stream-idle-seconds", "9"]
    )  # fmt: skip
    settings = main._settings(args)
    assert (settings.max_json_bytes, settings.max_upload_files) == (2048, 1)
    assert (settings.max_streams_per_workspace, settings.stream_idle_seconds) == (7, 9.0)


def test_serve_help_names_every_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main._parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for flag in ("--max-json-bytes", "--max-upload-files", "--max-streams-per-workspace"):
        assert flag in text
    assert "--stream-idle-seconds" in text and "413 file.size" in text


def test_bad_limits_are_all_reported() -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load(
            {
                "max_json_bytes": 10,
                "max_upload_files": 0,
                "max_streams_per_workspace": 0,
                "stream_idle_seconds": 0,
            },
            env={},
        )
    for name in ("max-json-bytes", "max-upload-files", "max-streams-per-workspace"):
        assert name in caught.value.message
    assert "stream-idle-seconds" in caught.value.message


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("../../../../tmp/x.jsonl", "x.jsonl"),
        ("C:\\Users\\me\\train.csv", "train.csv"),
        ("a\r\nb.jsonl", "ab.jsonl"),
        ("nul\x00.jsonl", "nul.jsonl"),
        ("zero\u200bwidth\u202e.jsonl", "zerowidth.jsonl"),
        ("  ..hidden.jsonl  ", "hidden.jsonl"),
        ("trailing/", "dataset.jsonl"),
        ("..", "dataset.jsonl"),
        ("", "dataset.jsonl"),
        (None, "dataset.jsonl"),
        ("ok name (1).jsonl", "ok name (1).jsonl"),
        ("데이터.csv", "데이터.csv"),
    ],
)
def test_file_names_are_reduced_to_a_safe_base_name(raw: str | None, cleaned: str) -> None:
    assert safe_name(raw) == cleaned
    assert safe_name(cleaned) == cleaned  # cleaning twice changes nothing


def test_long_names_are_cut_to_255_bytes_keeping_the_suffix() -> None:
    for raw in ("a" * 2000, "é" * 1000 + ".jsonl", "데" * 700 + ".csv", "x" * 300 + "." + "y" * 40):
        name = safe_name(raw)
        assert 0 < len(name.encode("utf-8")) <= MAX_NAME_BYTES
        assert name.encode("utf-8").decode("utf-8") == name
    assert safe_name("é" * 1000 + ".jsonl").endswith("é.jsonl")
    assert safe_name("데" * 700 + ".csv").endswith("데.csv")
    assert safe_name("", default="dataset") == "dataset"
