"""`tuneyard buckets create|list` as an operator runs them: the pair is shown once, the
secret key never stored in the clear, and a created bucket is the one CLOVA keys open."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.world import EXAMPLES
from tuneyard import errors, runtime
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings


def tuneyard(*args: str, data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneyard", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, check=False, input=stdin,
    )  # fmt: skip


def test_create_prints_the_pair_once_and_list_shows_no_secret(tmp_path: Path) -> None:
    created = tuneyard("buckets", "create", "team-data", "--workspace", "a", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    access_key, secret_key = created.stdout.split()
    assert created.stdout.count("\n") == 1 and len(access_key) == len(secret_key) == 32
    assert (tmp_path / "object-storage" / "team-data").is_dir()
    assert secret_key.encode() not in (tmp_path / "tuneyard.db").read_bytes()
    listed = tuneyard("buckets", "list", "--workspace", "a", "--json", data_dir=tmp_path)
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["access_key"]) for r in rows] == [("team-data", access_key)]
    assert secret_key not in listed.stdout
    assert json.loads(tuneyard("buckets", "list", "--json", data_dir=tmp_path).stdout) == []
    again = tuneyard("buckets", "create", "team-data", "--workspace", "b", data_dir=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and again.stdout == ""
    bad = tuneyard("buckets", "create", "Team_Data", data_dir=tmp_path)
    assert bad.returncode == 2 and "bucket name 'Team_Data' must be" in bad.stderr


def test_the_printed_pair_opens_the_bucket_and_nothing_else_does(tmp_path: Path) -> None:
    created = tuneyard("buckets", "create", "team-data", "--workspace", "a", data_dir=tmp_path)
    access_key, secret_key = created.stdout.split()
    data = (EXAMPLES / "clova-generation.csv").read_bytes()
    (tmp_path / "object-storage" / "team-data" / "train.csv").write_bytes(data)
    uploads = runtime.build(Settings(data_dir=tmp_path), executor=FakeExecutor()).service.uploads
    read = uploads.import_object(
        "b", bucket="team-data", path="train.csv", access_key=access_key, secret_key=secret_key
    )  # a CLOVA request from any workspace, with the bucket's pair
    assert read.bytes == len(data)
    for workspace, pair in [("b", (access_key, secret_key[::-1])), ("b", (None, None))]:
        with pytest.raises(errors.FileNotFound):
            uploads.import_object(
                workspace, bucket="team-data", path="train.csv",
                access_key=pair[0], secret_key=pair[1],
            )  # fmt: skip
    assert (
        uploads.import_object(  # a Qianfan BOS path from the owning workspace
            "a", bucket="team-data", path="train.csv", access_key=None, secret_key=None
        ).sha256
        == read.sha256
    )


def test_keys_issued_by_an_endpoint_are_recorded_from_stdin(tmp_path: Path) -> None:
    created = tuneyard(
        "buckets", "create", "at-endpoint", "--workspace", "a", "--access-key", "AKIAEXAMPLE",
        data_dir=tmp_path, stdin="endpoint-secret\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout == "AKIAEXAMPLE\n"
    assert b"endpoint-secret" not in (tmp_path / "tuneyard.db").read_bytes()
    empty = tuneyard(
        "buckets", "create", "other-one", "--access-key", "AK2", data_dir=tmp_path, stdin=""
    )
    assert empty.returncode == 2 and "secret key on stdin" in empty.stderr
