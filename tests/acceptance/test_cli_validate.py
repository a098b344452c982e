"""`tuneyard validate` as a user runs it: report, exit status, JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.world import EXAMPLES

pytestmark = pytest.mark.acceptance


def _validate(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneyard", "validate", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_good_file_reports_rows_and_tokens(tmp_path: Path) -> None:
    result = _validate(
        str(EXAMPLES / "clova-generation.csv"), "--model", "tiny-chat", data_dir=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "clova-csv, 128 rows, 60 conversations, 316 turns" in result.stdout
    assert "tokens (tiny-chat): 8270 in all" in result.stdout
    assert "OK: no issues" in result.stdout


def test_json_report_for_classification(tmp_path: Path) -> None:
    result = _validate(
        str(EXAMPLES / "clova-classification.csv"),
        "--model",
        "minilm-l6",
        "--json",
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["format"] == "clova-csv"
    assert report["labels"] == ["negative", "positive"]
    assert report["profile"]["examples"] == 120 and report["profile"]["tokens"] > 0


def test_a_bad_file_lists_every_issue_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("System_Prompt,C_ID,T_ID,Text,Completion\ns,0,0,,x\ns,0,1,hi,\ns,3,0,a,b\n")
    result = _validate(str(bad), "--max-issues", "2", data_dir=tmp_path)
    assert result.returncode == 1
    assert "[file.format] line 2, Text: Invalid dataset: required field empty. Text" in (
        result.stdout
    )
    assert "more (raise --max-issues to list them)" in result.stdout


def test_unknown_model_exits_2(tmp_path: Path) -> None:
    result = _validate(
        str(EXAMPLES / "clova-generation.csv"), "--model", "HCX-003", data_dir=tmp_path
    )
    assert result.returncode == 2
    assert "model not found" in result.stderr


def test_keys_create_aksk_prints_the_pair_once(tmp_path: Path) -> None:
    from tests.support.server import cli

    line = cli("keys", "create", "--kind", "aksk", "--workspace", "qf", data_dir=tmp_path)
    assert re.fullmatch(r"[0-9a-f]{32} [0-9a-f]{32}\n", line), line
    access_key, secret_key = line.split()
    assert secret_key.encode() not in (tmp_path / "tuneyard.db").read_bytes()
    assert access_key.encode() in (tmp_path / "tuneyard.db").read_bytes()
