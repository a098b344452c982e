"""Object storage that datasets are read from: an S3-compatible endpoint, or a local folder.

CLOVA clients name a dataset by bucket, path and Object Storage keys. With an endpoint
configured (`--object-storage-endpoint`) tuneyard reads it from there with those keys;
without one, `<object-storage-root>/<bucket>/<path>` on local disk stands in for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneyard import errors

__all__ = ["LocalObjectStorage", "S3ObjectStorage"]

_CHUNK = 1 << 20


class LocalObjectStorage:
    """Buckets as folders under a root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(
        self, bucket: str, path: str, *, access_key: str | None, secret_key: str | None
    ) -> Iterator[bytes]:
        """The object's bytes; FileNotFound when absent or outside the root."""
        root = self.root.resolve()
        target = (root / bucket / path.lstrip("/")).resolve()
        if root not in target.parents or not target.is_file():
            raise errors.FileNotFound(f"File not found: {bucket}/{path}")
        return _read(target)


def _read(target: Path) -> Iterator[bytes]:
    with target.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


class S3ObjectStorage:
    """An S3-compatible endpoint (NCP Object Storage, MinIO, AWS S3) read with boto3."""

    def __init__(self, endpoint: str, *, region: str = "us-east-1") -> None:
        self.endpoint = endpoint
        self.region = region

    def open(
        self, bucket: str, path: str, *, access_key: str | None, secret_key: str | None
    ) -> Iterator[bytes]:
        """The object's bytes; FileNotFound when the bucket or key is absent."""
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
            if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
                raise errors.FileNotFound(f"File not found: {bucket}/{path}") from exc
            raise errors.StorageError(f"object storage refused the read: {code}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise errors.StorageError(f"object storage unreachable: {exc}") from exc
        return iter(lambda: body.read(_CHUNK), b"")
