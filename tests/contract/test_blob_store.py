"""The blob store: the local folder and a bucket on a real S3-compatible server (moto)
pass the same tests. With a bucket, another server (an empty cache) reads the same bytes,
and a deleted blob is gone from the bucket as well."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import s3 as s3_support
from tuneyard.core.ports import BlobStore
from tuneyard.storage import blobs, s3, s3blobs

PART = 5 << 20
"""The smallest multipart part S3 accepts: the bucket store is built with it, so a
12 MiB upload goes up in several parts."""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_support.moto_server() as url:
        yield url


@pytest.fixture(params=["local", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], BlobStore]:
    """Builds a store over one shared backing (a folder or a bucket); each call with a new
    `cache` name is another server over the same storage (its own cache, for S3)."""
    if request.param == "local":
        return lambda cache: blobs.LocalBlobStore(tmp_path / "blobs")
    url = request.getfixturevalue("endpoint")
    where = s3_support.fresh_bucket(url, prefix="tenant/")
    client = s3_support.client(url)
    return lambda cache: s3blobs.S3BlobStore(client, where, tmp_path / cache, part_size=PART)


def test_put_returns_size_and_sha256_and_path_reads_the_bytes(
    make_store: Callable[[str], BlobStore],
) -> None:
    store = make_store("a")
    data = b"hello, blob\n" * 1000
    size, digest, truncated = store.put("file-1", [data[:5000], data[5000:]], limit=len(data))
    assert (size, digest, truncated) == (len(data), hashlib.sha256(data).hexdigest(), False)
    assert store.path("file-1").read_bytes() == data


@pytest.mark.parametrize("extra", [0, 1, 7])
def test_put_keeps_at_most_limit_plus_one_bytes(
    make_store: Callable[[str], BlobStore], extra: int
) -> None:
    store = make_store("a")
    limit = 100
    data = bytes(range(256))[: limit + extra]
    size, digest, truncated = store.put("file-2", [data[:60], data[60:]], limit=limit)
    kept = data[: limit + 1]
    assert size == len(kept)
    assert digest == hashlib.sha256(kept).hexdigest()
    assert truncated is (extra > 1)
    assert make_store("b").path("file-2").read_bytes() == kept


def test_a_large_upload_streams_in_parts_and_another_server_reads_it(
    make_store: Callable[[str], BlobStore],
) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    chunks = [chunk] * 12
    size, digest, truncated = make_store("a").put("big-1", iter(chunks), limit=64 << 20)
    whole = b"".join(chunks)
    assert (size, digest, truncated) == (len(whole), hashlib.sha256(whole).hexdigest(), False)
    other = make_store("b")
    assert other.path("big-1").read_bytes() == whole


def test_delete_removes_the_blob_everywhere(make_store: Callable[[str], BlobStore]) -> None:
    store = make_store("a")
    store.put("file-3", [b"x" * 10], limit=100)
    store.delete("file-3")
    assert not store.path("file-3").exists()
    assert not make_store("b").path("file-3").exists()
    store.delete("file-3")  # already gone: not an error


def test_a_failed_upload_leaves_nothing(make_store: Callable[[str], BlobStore]) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * (6 << 20)
        yield b"y" * (6 << 20)
        raise RuntimeError("the client went away")

    store = make_store("a")
    with pytest.raises(RuntimeError, match="went away"):
        store.put("file-4", broken(), limit=64 << 20)
    assert not store.path("file-4").exists()
    assert not make_store("b").path("file-4").exists()


@pytest.mark.parametrize("key", ["", ".hidden", "a/b", "x" * 129])
def test_bad_keys_are_refused(make_store: Callable[[str], BlobStore], key: str) -> None:
    with pytest.raises(ValueError, match="bad blob key"):
        make_store("a").put(key, [b"x"], limit=10)


def test_in_the_bucket_the_blob_is_an_object_under_the_prefix(
    endpoint: str, tmp_path: Path
) -> None:
    where = s3_support.fresh_bucket(endpoint, prefix="tenant/")
    store = s3blobs.S3BlobStore(s3_support.client(endpoint), where, tmp_path)
    store.put("file-5", [b"abc"], limit=10)
    assert s3_support.keys_under(where) == ["tenant/blobs/file-5"]
    assert s3.exists(s3_support.client(endpoint), where.bucket, "tenant/blobs/file-5")
