"""`--bucket` is checked when the server starts: a bucket that is missing, keys it refuses
or an endpoint that does not answer stop `tuneyard serve` at once with the reason, instead
of failing the first upload."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import s3 as s3_support
from tuneyard import errors
from tuneyard.cli import main
from tuneyard.storage import s3


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_support.moto_server() as url:
        yield url


def test_a_bucket_that_is_there_passes(endpoint: str) -> None:
    where = s3_support.fresh_bucket(endpoint)
    s3.check_bucket(endpoint, where.bucket, **s3_support.KEYS)


def test_a_missing_bucket_is_named(endpoint: str) -> None:
    with pytest.raises(errors.StorageError) as caught:
        s3.check_bucket(endpoint, "no-such-bucket-here", **s3_support.KEYS)
    assert caught.value.message == f"the bucket no-such-bucket-here at {endpoint} does not exist"


def test_an_endpoint_that_does_not_answer_fails_in_seconds() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(errors.StorageError) as caught:
        s3.check_bucket(f"http://127.0.0.1:{port}", "jobs", timeout_seconds=2, **s3_support.KEYS)
    assert "unreachable" in caught.value.message
    assert time.monotonic() - started < 30


def test_no_keys_are_named(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(errors.StorageError) as caught:
        s3.check_bucket(endpoint, "jobs")
    assert caught.value.message.startswith("no keys for the bucket jobs: set")


def test_serve_stops_at_once_with_the_reason(
    endpoint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUNEYARD_OBJECT_STORAGE_ACCESS_KEY", s3_support.KEYS["access_key"])
    monkeypatch.setenv("TUNEYARD_OBJECT_STORAGE_SECRET_KEY", s3_support.KEYS["secret_key"])
    argv = [
        "serve",
        "--data-dir",
        str(tmp_path),
        "--port",
        "1",  # never bound: it stops before
        "--object-storage-endpoint",
        endpoint,
        "--bucket",
        "missing-bucket",
    ]
    assert main.main(argv) == 2
    assert f"the bucket missing-bucket at {endpoint} does not exist" in capsys.readouterr().err
