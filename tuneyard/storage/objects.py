"""Object storage that datasets are read from: an S3-compatible endpoint, or a local folder.

CLOVA clients name a dataset by bucket, path and Object Storage keys; Qianfan's BOS paths
are read with the bucket's own keys (see `tuneyard.core.buckets`). With an endpoint
configured (`--object-storage-endpoint`) tuneyard reads from there with those keys and the
endpoint checks them; without one, `<object-storage-root>/<bucket>/<path>` on local disk
stands in for it, and a bucket is only readable once recorded (`tuneyard buckets create`),
with its own key pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneyard import errors
from tuneyard.core import buckets
from tuneyard.core.ports import BucketRepository, Sealer

__all__ = ["LocalObjectStorage", "S3ObjectStorage"]

_CHUNK = 1 << 20
_NOT_FOUND = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
_REFUSED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403")


class LocalObjectStorage:
    """Buckets as folders under a root directory, opened only with their recorded key pair."""

    def __init__(self, root: Path, *, buckets: BucketRepository, sealer: Sealer) -> None:
        self.root = root
        self.buckets = buckets
        self.sealer = sealer

    def open(self, bucket: str, path: str, *, access_key: str, secret_key: str) -> Iterator[bytes]:
        """The object's bytes; FileNotFound when the bucket has no record, the pair is not
        its own, or the object is absent or outside the bucket's folder. The file is only
        opened once all of that has been checked."""
        missing = errors.FileNotFound(f"File not found: {bucket}/{path}")
        record = self.buckets.get(bucket)
        if record is None:
            raise missing
        secret = self.sealer.open(record.secret_sealed)
        if not buckets.unlocks(record, secret, access_key, secret_key):
            raise missing
        try:
            folder = (self.root / record.name).resolve()
            target = (folder / path.lstrip("/")).resolve()
            readable = folder in target.parents and target.is_file()
        except (OSError, ValueError):  # a name too long for the filesystem, a NUL byte
            readable = False
        if not readable:
            raise missing
        return _read(target)

    def add_bucket(self, name: str) -> None:
        """Make the bucket's folder (an existing folder is adopted as it is)."""
        (self.root / name).mkdir(parents=True, exist_ok=True)


def _read(target: Path) -> Iterator[bytes]:
    with target.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


class S3ObjectStorage:
    """An S3-compatible endpoint (NCP Object Storage, MinIO, AWS S3) read with boto3."""

    def __init__(self, endpoint: str, *, region: str = "us-east-1") -> None:
        self.endpoint = endpoint
        self.region = region

    def open(self, bucket: str, path: str, *, access_key: str, secret_key: str) -> Iterator[bytes]:
        """The object's bytes; FileNotFound when the bucket or key is absent or the endpoint
        refuses the pair (it checks the keys: the same answer as the local store's)."""
        import boto3
        import botocore.exceptions

        client: Any = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )
        try:
            body = client.get_object(Bucket=bucket, Key=path.lstrip("/"))["Body"]
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_FOUND or code in _REFUSED:
                raise errors.FileNotFound(f"File not found: {bucket}/{path}") from exc
            raise errors.StorageError(f"object storage refused the read: {code}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise errors.StorageError(f"object storage unreachable: {exc}") from exc
        return iter(lambda: body.read(_CHUNK), b"")

    def add_bucket(self, name: str) -> None:
        """Nothing: an endpoint's buckets are made, and their keys issued, at the endpoint."""
