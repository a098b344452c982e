"""Object storage: the local folder and a real S3-compatible server pass the same tests,
including refusing a key pair that is not the bucket's (the local store checks its bucket
records; the S3 server, moto with IAM authentication on, checks the signature itself)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.world import ManualClock, World
from tuneyard import errors
from tuneyard.core.buckets import Bucket
from tuneyard.core.ports import ObjectStorage, Ports
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.storage import memory, objects, secrets

BODY = b"System_Prompt,C_ID,T_ID,Text,Completion\n" + b"x" * (3 << 20)  # several chunks
KEYS: dict[str, str] = {}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[tuple[str, dict[str, str]]]:
    """A moto S3 server with bucket/data/train.csv and an IAM user who may read it: the
    endpoint and that user's keys."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto's own deprecation noise, not ours
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _client("s3", endpoint, "setup", "setup").create_bucket(Bucket="bucket")
    _client("s3", endpoint, "setup", "setup").put_object(
        Bucket="bucket", Key="data/train.csv", Body=BODY
    )
    iam = _client("iam", endpoint, "setup", "setup")
    iam.create_user(UserName="reader")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                      "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    yield endpoint, {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    server.stop()


def _client(service: str, endpoint: str, access_key: str, secret_key: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStorage]:
    if request.param == "local":
        target = tmp_path / "bucket" / "data" / "train.csv"
        target.parent.mkdir(parents=True)
        target.write_bytes(BODY)
        sealer = secrets.FernetSealer(tmp_path / "secret.key")
        buckets = memory.MemoryBuckets()
        now = ManualClock().now()
        buckets.add(Bucket("bucket", "ws", "test-ak", sealer.seal("test-sk"), now))
        KEYS.update(access_key="test-ak", secret_key="test-sk")
        yield objects.LocalObjectStorage(tmp_path, buckets=buckets, sealer=sealer)
        return
    from moto.core.authorization import enable_iam_authentication

    endpoint, keys = request.getfixturevalue("s3_endpoint")
    KEYS.update(keys)
    with enable_iam_authentication():  # from here on the server checks every signature
        yield objects.S3ObjectStorage(endpoint)


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


@pytest.mark.parametrize("wrong", ["secret", "access", "both"])
def test_a_pair_that_is_not_the_buckets_reads_as_not_found(
    store: ObjectStorage, wrong: str
) -> None:
    keys = dict(KEYS)
    if wrong in ("secret", "both"):
        keys["secret_key"] = "not-" + keys["secret_key"]
    if wrong in ("access", "both"):
        keys["access_key"] = "AKIANOTTHEREATALL000"
    with pytest.raises(errors.FileNotFound, match=r"File not found: bucket/data/train\.csv"):
        list(store.open("bucket", "data/train.csv", **keys))


def test_at_an_endpoint_bos_reads_with_the_buckets_recorded_keys(
    ports: Ports, tmp_path: Path, s3_endpoint: tuple[str, dict[str, str]]
) -> None:
    """Qianfan BOS paths carry no keys: the owning workspace's record gives them, and the
    endpoint checks them; CLOVA's keys pass through as sent, with or without a record."""
    from moto.core.authorization import enable_iam_authentication

    endpoint, keys = s3_endpoint
    at_endpoint = dataclasses.replace(ports, objects=objects.S3ObjectStorage(endpoint))
    service = World(at_endpoint, tmp_path, FakeExecutor()).service
    service.buckets.create("a", "bucket", **keys)  # the keys the endpoint issued for it
    files = service.uploads
    with enable_iam_authentication():
        bos = {"bucket": "bucket", "path": "data/train.csv", "access_key": None, "secret_key": None}
        assert files.import_object("a", **bos).bytes == len(BODY)
        with pytest.raises(errors.FileNotFound):
            files.import_object("b", **bos)
        clova = {**bos, **keys}
        assert files.import_object("b", **clova).bytes == len(BODY)
        with pytest.raises(errors.FileNotFound):
            files.import_object("a", **{**clova, "secret_key": "wrong"})
