"""`tuneyard files upload|list` as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.world import EXAMPLES


def tuneyard(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneyard", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_upload_checks_the_file_and_list_shows_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('[{"prompt": "hi"}]\n')
    refused = tuneyard("files", "upload", str(bad), "--workspace", "qf", data_dir=tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "file.format: line 1" in refused.stderr
    good = EXAMPLES / "qianfan-sft.jsonl"
    uploaded = tuneyard(
        "files", "upload", str(good), "--workspace", "qf", "--description", "sums",
        data_dir=tmp_path,
    )  # fmt: skip
    assert uploaded.returncode == 0, uploaded.stderr
    file_id = uploaded.stdout.strip()
    assert file_id.startswith("file-")
    listed = json.loads(
        tuneyard("files", "list", "--workspace", "qf", "--json", data_dir=tmp_path).stdout
    )
    assert [(f["id"], f["filename"], f["description"]) for f in listed] == [
        (file_id, "qianfan-sft.jsonl", "sums")
    ]
    assert json.loads(tuneyard("files", "list", "--json", data_dir=tmp_path).stdout) == []
    missing = tuneyard("files", "upload", str(tmp_path / "none.jsonl"), data_dir=tmp_path)
    assert missing.returncode == 2 and "is not a file" in missing.stderr
