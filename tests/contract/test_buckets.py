"""Buckets: the repository (memory and SQLite alike), and the local store reading a bucket
only with its own key pair, or for its own workspace (no byte read otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.opens import record_opens
from tests.support.world import EXAMPLES, World
from tuneyard import errors
from tuneyard.core.buckets import Bucket
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.core.submission import ObjectSource
from tuneyard.scheduler.executors.fake import FakeExecutor

DATA = (EXAMPLES / "clova-generation.csv").read_bytes()


@pytest.fixture
def world(ports: Ports, tmp_path: Path) -> World:
    return World(ports, tmp_path, FakeExecutor())


def _record(ports: Ports, name: str, workspace: str, access_key: str) -> Bucket:
    return Bucket(
        name=name,
        workspace_id=workspace,
        access_key=access_key,
        secret_sealed=ports.sealer.seal("s-" + access_key),
        created_at=ports.clock.now(),
    )


def test_repository_round_trip_per_workspace(ports: Ports) -> None:
    records = [_record(ports, n, w, k) for n, w, k in [("zeta", "a", "1"), ("alpha", "a", "2")]]
    for record in [*records, _record(ports, "mid", "b", "3")]:
        ports.buckets.add(record)
    assert [ports.buckets.get(r.name) for r in records] == records
    assert [b.name for b in ports.buckets.owned_by("a")] == ["alpha", "zeta"]
    assert [b.name for b in ports.buckets.owned_by("b")] == ["mid"]
    assert ports.buckets.owned_by("c") == [] and ports.buckets.get("none") is None


def test_names_and_access_keys_are_unique(ports: Ports) -> None:
    ports.buckets.add(_record(ports, "alpha", "a", "k1"))
    with pytest.raises(errors.Conflict):
        ports.buckets.add(_record(ports, "alpha", "b", "k2"))
    with pytest.raises(errors.Conflict):
        ports.buckets.add(_record(ports, "beta", "b", "k1"))
    assert [b.workspace_id for b in ports.buckets.owned_by("a")] == ["a"]


def test_create_prints_a_pair_whose_secret_is_sealed(world: World, tmp_path: Path) -> None:
    access_key, secret_key = world.service.buckets.create("ws", "team-data")
    record = world.ports.buckets.get("team-data")
    assert record is not None and record.workspace_id == "ws" and record.access_key == access_key
    assert secret_key not in record.secret_sealed
    assert world.ports.sealer.open(record.secret_sealed) == secret_key
    assert (tmp_path / "object-storage" / "team-data").is_dir()
    with pytest.raises(errors.Conflict, match="already exists"):
        world.service.buckets.create("other", "team-data")
    assert world.service.buckets.create("ws", "second")[0] != access_key
    assert [b.name for b in world.service.buckets.list_buckets("ws")] == ["second", "team-data"]


def test_an_existing_folder_is_adopted_only_once_created(world: World, tmp_path: Path) -> None:
    target = tmp_path / "object-storage" / "old-layout" / "train.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(DATA)
    with pytest.raises(errors.FileNotFound):  # a folder without a record is no bucket
        world.ports.objects.open("old-layout", "train.csv", access_key="a", secret_key="s")
    access_key, secret_key = world.service.buckets.create("ws", "old-layout")
    chunks = world.ports.objects.open(
        "old-layout", "train.csv", access_key=access_key, secret_key=secret_key
    )
    assert b"".join(chunks) == DATA


def test_only_the_buckets_own_pair_opens_it(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access_key, secret_key = world.make_bucket("alpha", {"d/train.csv": DATA}, workspace="a")
    other_access, other_secret = world.make_bucket("beta", {"x.csv": b"x"}, workspace="b")
    target = (tmp_path / "object-storage" / "alpha" / "d" / "train.csv").resolve()
    opened = record_opens(monkeypatch)
    for pair in [
        (access_key, "wrong"),
        ("wrong", secret_key),
        (other_access, other_secret),  # another bucket's pair
        (secret_key, access_key),
        ("", ""),
        (access_key, secret_key + "\u00e9"),  # not ASCII: compared, not a TypeError
        ("\ud800", secret_key + "\udcff"),  # lone surrogates, as JSON can carry
    ]:
        with pytest.raises(errors.FileNotFound, match=r"File not found: alpha/d/train\.csv"):
            world.ports.objects.open("alpha", "d/train.csv", access_key=pair[0], secret_key=pair[1])
    assert target not in opened
    chunks = world.ports.objects.open(
        "alpha", "d/train.csv", access_key=access_key, secret_key=secret_key
    )
    assert b"".join(chunks) == DATA and target in opened


@pytest.mark.parametrize(
    "path",
    ["../beta/x.csv", "d/../../beta/x.csv", "/../beta/x.csv", "../../secret.key", "d", "a" * 300],
)
def test_a_path_cannot_leave_its_bucket(world: World, path: str) -> None:
    access_key, secret_key = world.make_bucket("alpha", {"d/train.csv": DATA})
    world.make_bucket("beta", {"x.csv": b"x"})
    with pytest.raises(errors.FileNotFound):
        world.ports.objects.open("alpha", path, access_key=access_key, secret_key=secret_key)


def test_keys_decide_for_clova_and_the_workspace_for_bos(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access_key, secret_key = world.make_bucket("alpha", {"train.csv": DATA}, workspace="a")
    target = (tmp_path / "object-storage" / "alpha" / "train.csv").resolve()
    opened = record_opens(monkeypatch)
    bos = ObjectSource(bucket="alpha", path="train.csv", access_key=None, secret_key=None)
    wrong = ObjectSource(bucket="alpha", path="train.csv", access_key=access_key, secret_key="x")
    for workspace, source in [("b", bos), ("b", wrong), ("a", wrong)]:
        failed = world.service.submission.submit(world.spec(workspace), source)
        assert (failed.status, failed.error_code) == (S.FAILED, "File not found")
        assert failed.error_message == "File not found: alpha/train.csv"
    assert target not in opened
    right = ObjectSource(
        bucket="alpha", path="train.csv", access_key=access_key, secret_key=secret_key
    )
    for workspace, source in [("a", bos), ("b", right)]:  # its own workspace; or its keys
        job = world.service.submission.submit(world.spec(workspace), source)
        world.wait_status(job.id, S.SUCCEEDED)


@pytest.mark.parametrize(
    ("bucket", "path"),
    [
        ("alpha", "a\x00b.csv"),
        ("alpha", "line\nbreak.csv"),
        ("alpha", "del\x7f.csv"),
        ("alpha", "x" * 5000),
        ("alpha", "\u00e9" * 513),  # 1,026 bytes in UTF-8
        ("alpha", "bad\udcff.csv"),
        ("al\x00pha", "train.csv"),
        ("a" * 2000, "train.csv"),
    ],
)
def test_paths_no_store_can_hold_are_invalid_requests(world: World, bucket: str, path: str) -> None:
    access_key, secret_key = world.make_bucket("alpha", {"train.csv": DATA})
    source = ObjectSource(bucket=bucket, path=path, access_key=access_key, secret_key=secret_key)
    with pytest.raises(errors.InvalidRequest):
        world.service.submission.submit(world.spec(), source)
    assert world.service.jobs.list("ws", offset=0, limit=10).total == 0
