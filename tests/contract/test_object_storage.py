"""Object storage: the local folder and a real S3-compatible server pass the same tests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuneyard import errors
from tuneyard.core.ports import ObjectStorage
from tuneyard.storage import objects

KEYS = {"access_key": "test-ak", "secret_key": "test-sk"}
BODY = b"System_Prompt,C_ID,T_ID,Text,Completion\n" + b"x" * (3 << 20)  # several chunks


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto's own deprecation noise, not ours
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStorage:
    if request.param == "local":
        target = tmp_path / "bucket" / "data" / "train.csv"
        target.parent.mkdir(parents=True)
        target.write_bytes(BODY)
        return objects.LocalObjectStorage(tmp_path)
    import boto3

    endpoint = request.getfixturevalue("s3_endpoint")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-ak",
        aws_secret_access_key="test-sk",
    )
    client.create_bucket(Bucket="bucket")
    client.put_object(Bucket="bucket", Key="data/train.csv", Body=BODY)
    return objects.S3ObjectStorage(endpoint)


def test_reads_the_object_in_chunks(store: ObjectStorage) -> None:
    chunks = list(store.open("bucket", "data/train.csv", **KEYS))
    assert b"".join(chunks) == BODY
    assert len(chunks) > 1


def test_a_leading_slash_is_the_same_object(store: ObjectStorage) -> None:
    assert b"".join(store.open("bucket", "/data/train.csv", **KEYS)) == BODY


@pytest.mark.parametrize(("bucket", "path"), [("bucket", "data/none.csv"), ("nobucket", "x")])
def test_missing_objects_are_file_not_found(store: ObjectStorage, bucket: str, path: str) -> None:
    with pytest.raises(errors.FileNotFound, match="File not found"):
        list(store.open(bucket, path, **KEYS))
