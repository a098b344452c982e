"""The blob store in a bucket: uploaded datasets as objects `<prefix>blobs/<key>`.

An upload streams into a multipart upload as it arrives (parts of `part_size` bytes; a
small file is one plain PUT) and, at the same time, into a local cache laid out as
`LocalBlobStore`, which also counts the bytes, cuts them at the limit and hashes them.
The server's dataset checks read the cache (`path`); a replica or restart that lacks a
blob downloads it there first. The bucket is the truth: workers read the object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tuneyard.core import artifacts
from tuneyard.core.jobs import StorageRef
from tuneyard.storage import blobs, s3

__all__ = ["S3BlobStore"]

_MIN_PART = 5 << 20
"""S3's smallest part (but the last) of a multipart upload."""


class S3BlobStore:
    """Blobs as objects in a bucket, with a local cache the server reads them from."""

    def __init__(
        self, client: Any, where: StorageRef, cache: Path, *, part_size: int = 8 << 20
    ) -> None:
        self.client = client
        self.where = where
        self.cache = blobs.LocalBlobStore(cache)
        self.part_size = max(_MIN_PART, part_size)

    def put(self, key: str, chunks: Iterable[bytes], *, limit: int) -> tuple[int, str, bool]:
        """Stream the chunks (at most `limit + 1` bytes of them) to the bucket and the
        cache; return (bytes kept, sha256 hex, truncated)."""
        upload = _Multipart(self.client, self.where.bucket, self._object(key), self.part_size)
        try:
            kept = self.cache.put(key, upload.tee(chunks, limit + 1), limit=limit)
            upload.finish()
        except BaseException:
            upload.abort()
            self.cache.delete(key)
            raise
        return kept

    def path(self, key: str) -> Path:
        """The cached file of the blob, downloaded first if this server lacks it (a path
        that does not exist when the bucket has no such blob either)."""
        target = self.cache.path(key)
        if not target.is_file():
            s3.download_file(self.client, self.where.bucket, self._object(key), target)
        return target

    def delete(self, key: str) -> None:
        """Remove the blob from the bucket and the cache."""
        with s3.translated(f"delete {key}"):
            self.client.delete_object(Bucket=self.where.bucket, Key=self._object(key))
        self.cache.delete(key)

    def _object(self, key: str) -> str:
        return artifacts.blob_object(self.where, blobs.check_key(key))


class _Multipart:
    """One object written part by part as bytes arrive (one PUT if it stays small)."""

    def __init__(self, client: Any, bucket: str, key: str, part_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def tee(self, chunks: Iterable[bytes], most: int) -> Iterator[bytes]:
        """The chunks as they come, their first `most` bytes also sent to the bucket."""
        sent = 0
        for chunk in chunks:
            piece = chunk[: max(0, most - sent)]
            sent += len(piece)
            self._feed(piece)
            yield chunk

    def _feed(self, piece: bytes) -> None:
        self.buffer += piece
        while len(self.buffer) >= 2 * self.part_size:  # keep a part back: the last may be small
            self._part(bytes(self.buffer[: self.part_size]))
            del self.buffer[: self.part_size]

    def _part(self, body: bytes) -> None:
        with s3.translated(f"write {self.key}"):
            if self.upload_id is None:
                started = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
                self.upload_id = started["UploadId"]
            number = len(self.parts) + 1
            done = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
            )
        self.parts.append({"PartNumber": number, "ETag": done["ETag"]})

    def finish(self) -> None:
        """Send what is left and complete the object."""
        if self.upload_id is None:
            with s3.translated(f"write {self.key}"):
                self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        self._part(bytes(self.buffer))
        self.buffer.clear()
        with s3.translated(f"write {self.key}"):
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )

    def abort(self) -> None:
        """Drop a multipart upload that will not complete (best effort)."""
        if self.upload_id is not None:
            with contextlib.suppress(Exception):  # the original failure is what matters
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )
