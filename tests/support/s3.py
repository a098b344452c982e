"""A real S3-compatible server for tests: moto's, on 127.0.0.1, with one fresh bucket."""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

from tuneyard.core.jobs import StorageRef
from tuneyard.storage import s3

KEYS = {"access_key": "test-access", "secret_key": "test-secret"}
"""The key pair tests use (moto checks none unless IAM authentication is on)."""


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server for the duration: its endpoint URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto's own deprecation noise, not ours
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(endpoint: str) -> Any:
    """A boto3 client for the endpoint with the tests' key pair."""
    return s3.client(endpoint, **KEYS)


def fresh_bucket(endpoint: str, *, prefix: str = "") -> StorageRef:
    """A new, empty bucket at the endpoint."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    client(endpoint).create_bucket(Bucket=name)
    return StorageRef(endpoint, name, prefix)


def keys_under(where: StorageRef, prefix: str = "") -> list[str]:
    """Every object key in the bucket under `where.prefix` + `prefix`, sorted."""
    pages = client(where.endpoint).get_paginator("list_objects_v2")
    found: list[str] = []
    for page in pages.paginate(Bucket=where.bucket, Prefix=where.prefix + prefix):
        found += [item["Key"] for item in page.get("Contents", [])]
    return sorted(found)
