"""Moving folders and files between local disk and an S3-compatible bucket, with boto3.

Shared by the server (`tuneyard.storage.s3blobs`, `tuneyard.storage.artifacts`) and the
training worker (`tuneyard.trainer.staging`). Downloads land in a temporary name beside
their target and are renamed into place, so a reader never sees half a folder; failures
of the store become `errors.StorageError`. Credentials: the pair given, or else boto3's
own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, its config files).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneyard import errors

__all__ = [
    "check_bucket",
    "client",
    "delete_folder",
    "download_file",
    "download_folder",
    "exists",
    "folders",
    "translated",
    "upload_folder",
]

_MISSING = ("NoSuchKey", "404", "NotFound")


def client(
    endpoint: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str = "us-east-1",
) -> Any:
    """A boto3 S3 client for the endpoint (path-style addressing, as MinIO and moto want)."""
    import boto3
    import botocore.config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


def check_bucket(
    endpoint: str,
    bucket: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    timeout_seconds: float = 10.0,
) -> None:
    """Make sure the bucket is there and these keys may use it (one HEAD request, with
    short timeouts and one retry, so a wrong endpoint fails in seconds, not minutes);
    StorageError saying which, else nothing."""
    import boto3
    import botocore.config
    import botocore.exceptions

    probe = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )
    try:
        probe.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            why = "does not exist"
        elif code in ("403", "AccessDenied", "Forbidden"):
            why = "refuses these keys (TUNEYARD_OBJECT_STORAGE_ACCESS_KEY/SECRET_KEY or AWS_*)"
        else:
            why = f"answered {code or exc}"
        raise errors.StorageError(f"the bucket {bucket} at {endpoint} {why}") from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise errors.StorageError(
            f"no keys for the bucket {bucket}: set TUNEYARD_OBJECT_STORAGE_ACCESS_KEY and "
            "TUNEYARD_OBJECT_STORAGE_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise errors.StorageError(
            f"the object storage at {endpoint} is unreachable: {exc}"
        ) from exc


@contextlib.contextmanager
def translated(doing: str) -> Iterator[None]:
    """Turn boto3's failures into `errors.StorageError` naming what was being done."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise errors.StorageError(f"object storage refused to {doing}: {code}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise errors.StorageError(f"object storage unreachable ({doing}): {exc}") from exc


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    found: list[str] = []
    with translated(f"list {prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
    return found


def exists(s3: Any, bucket: str, key: str) -> bool:
    """Whether the object is in the bucket."""
    import botocore.exceptions

    with translated(f"read {key}"):
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _MISSING:
                return False
            raise
    return True


def folders(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The names of the "folders" right under `prefix` (which ends in "/")."""
    names: list[str] = []
    with translated(f"list {prefix}"):
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            names += [p["Prefix"][len(prefix) :].strip("/") for p in page.get("CommonPrefixes", [])]
    return names


def upload_folder(s3: Any, bucket: str, folder: Path, prefix: str, *, last: str = "") -> int:
    """Upload every file under `folder` to `prefix` + its relative path (the file named
    `last`, if any, after all others: its presence marks the folder complete); how many."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == last)  # stable: `last` moves to the end
    for path in files:
        key = prefix + path.relative_to(folder).as_posix()
        with translated(f"write {key}"):
            s3.upload_file(str(path), bucket, key)
    return len(files)


def download_file(s3: Any, bucket: str, key: str, target: Path) -> bool:
    """Write the object to `target` (via a temporary file); False when it is absent."""
    if not exists(s3, bucket, key):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.part-")
    os.close(fd)
    try:
        with translated(f"read {key}"):
            s3.download_file(bucket, key, tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def download_folder(s3: Any, bucket: str, prefix: str, target: Path) -> bool:
    """Write every object under `prefix` into the folder `target`, which appears whole
    (renamed into place) or not at all; False when the bucket has nothing there. A folder
    already at `target` (another reader was faster) is kept as it is."""
    keys = [k for k in _keys(s3, bucket, prefix) if not k.endswith("/")]
    if not keys:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.pull-"))
    try:
        for key in keys:
            path = staging / key[len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            with translated(f"read {key}"):
                s3.download_file(bucket, key, str(path))
        try:
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # not a race lost to another reader
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def delete_folder(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix`; how many."""
    keys = _keys(s3, bucket, prefix)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        with translated(f"delete {prefix}"):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    return len(keys)
