"""The repositories: memory fake and SQLite pass the same tests (house rule 7)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from tests.support import world
from tests.support.world import ManualClock
from tuneyard.core.files import StoredFile
from tuneyard.core.groups import JobGroup
from tuneyard.core.jobs import Progress
from tuneyard.core.paging import Cursor
from tuneyard.core.ports import ApiKey, Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.kinds import Objective

_job = world.job_record


def test_add_get_round_trip(ports: Ports) -> None:
    job = _job(ports, "aaaa0001", progress=Progress(data_rows=5, labels=["a", "b"]))
    ports.jobs.add(job)
    assert ports.jobs.get("aaaa0001") == job
    assert ports.jobs.get("missing1") is None


def test_transition_is_compare_and_set(ports: Ports) -> None:
    ports.jobs.add(_job(ports, "aaaa0001"))
    assert ports.jobs.transition("aaaa0001", S.CREATED, S.VALIDATING)
    assert not ports.jobs.transition("aaaa0001", S.CREATED, S.VALIDATING)
    assert ports.jobs.transition(
        "aaaa0001", S.VALIDATING, S.FAILED, error_code="file.size", error_message="too big"
    )
    job = ports.jobs.get("aaaa0001")
    assert job is not None
    assert (job.status, job.error_code, job.error_message) == (S.FAILED, "file.size", "too big")


def test_concurrent_transitions_have_one_winner(ports: Ports) -> None:
    ports.jobs.add(_job(ports, "aaaa0001", status=S.QUEUED))
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        wins.append(ports.jobs.transition("aaaa0001", S.QUEUED, S.CANCELLED))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_list_is_newest_first_per_workspace_and_hides_deleted(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for i in range(5):
        clock.advance(1)
        ports.jobs.add(_job(ports, f"aaaa000{i}"))
    ports.jobs.add(_job(ports, "bbbb0001", workspace="other"))
    ports.jobs.mark_deleted("aaaa0004", clock.now())
    page = ports.jobs.page("ws", offset=0, limit=2)
    assert page.total == 4
    assert [j.id for j in page.items] == ["aaaa0003", "aaaa0002"]
    assert [j.id for j in ports.jobs.page("ws", offset=2, limit=2).items] == [
        "aaaa0001",
        "aaaa0000",
    ]


def test_claim_is_fifo_by_queue_time_and_takes_a_lease(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    now = clock.now()
    ports.jobs.add(_job(ports, "late0001", status=S.QUEUED, queued_at=now.replace(minute=9)))
    ports.jobs.add(_job(ports, "earl0001", status=S.QUEUED, queued_at=now.replace(minute=1)))
    first = ports.jobs.claim_next("me", now, now.replace(minute=30))
    assert first is not None and first.id == "earl0001"
    assert first.status is S.RUNNING and first.attempts == 0  # a claim is not an attempt
    second = ports.jobs.claim_next("me", now, now.replace(minute=30))
    assert second is not None and second.id == "late0001"
    assert ports.jobs.claim_next("me", now, now) is None
    assert ports.jobs.running_count() == 2


def test_leases_expire_and_renew(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    now = clock.now()
    ports.jobs.add(_job(ports, "aaaa0001", status=S.QUEUED, queued_at=now))
    ports.jobs.claim_next("me", now, now.replace(minute=8))
    assert ports.jobs.expired_leases(now.replace(minute=9))[0].id == "aaaa0001"
    assert not ports.jobs.renew_lease("aaaa0001", "someone-else", now.replace(minute=20))
    assert ports.jobs.renew_lease("aaaa0001", "me", now.replace(minute=20))
    assert ports.jobs.expired_leases(now.replace(minute=9)) == []


def test_progress_is_saved(ports: Ports) -> None:
    ports.jobs.add(_job(ports, "aaaa0001"))
    progress = Progress(step=3, total_steps=10, train_loss=1.25, labels=None, num_tokens=99)
    ports.jobs.save_progress("aaaa0001", progress, ports.clock.now())
    job = ports.jobs.get("aaaa0001")
    assert job is not None and job.progress == progress


def test_events_are_sequenced_per_job(ports: Ports) -> None:
    now = ports.clock.now()
    for i in range(3):
        ports.events.append(
            "aaaa0001", created_at=now, level="info", type="message", message=f"m{i}", data={"i": i}
        )
    ports.events.append("bbbb0001", created_at=now, level="info", type="message", message="x")
    events = ports.events.list("aaaa0001")
    assert [(e.seq, e.message, e.data) for e in events] == [
        (1, "m0", {"i": 0}),
        (2, "m1", {"i": 1}),
        (3, "m2", {"i": 2}),
    ]
    assert [e.seq for e in ports.events.list("aaaa0001", after_seq=2)] == [3]
    assert (ports.events.count("aaaa0001"), ports.events.count("none0001")) == (3, 0)


def test_dialect_fields_round_trip_and_filters(ports: Ports) -> None:
    job = _job(
        ports,
        "ft-202611231207-ab12",
        validation_file_id="file-2",
        output_name="tiny-chat-ft-202611231207-ab12",
        echo={"hyper_parameters": {"learning_rate": 1.6e-5}, "training_type": "sft"},
    )
    ports.jobs.add(job)
    ports.jobs.add(_job(ports, "aaaa0002", base_model="other-model", output_name="x"))
    assert ports.jobs.get(job.id) == job
    assert ports.jobs.find_by_output_name("ws", "tiny-chat-ft-202611231207-ab12") == job
    assert ports.jobs.find_by_output_name("other-ws", "tiny-chat-ft-202611231207-ab12") is None
    assert [
        j.id for j in ports.jobs.page("ws", offset=0, limit=9, base_model="other-model").items
    ] == ["aaaa0002"]
    ports.jobs.mark_deleted("aaaa0002", ports.clock.now())
    assert ports.jobs.find_by_output_name("ws", "x") is None


def test_files_page_newest_first_and_hide_deleted(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for i, workspace in enumerate(["ws", "ws", "ws", "other"]):
        clock.advance(1)
        ports.files.add(
            StoredFile(
                id=f"file-{i}",
                workspace_id=workspace,
                filename=f"{i}.jsonl",
                bytes=i,
                sha256="0" * 64,
                purpose="fine-tune",
                blob_key=f"file-{i}",
                created_at=clock.now(),
                description="about" if i == 1 else None,
            )
        )
    page = ports.files.page("ws", offset=0, limit=2)
    assert (page.total, [f.id for f in page.items]) == (3, ["file-2", "file-1"])
    assert page.items[1].description == "about"
    ports.files.mark_deleted("file-2", clock.now())
    assert [f.id for f in ports.files.page("ws", offset=0, limit=9).items] == ["file-1", "file-0"]
    deleted = ports.files.get("file-2")
    assert deleted is not None and deleted.deleted_at == clock.now()  # jobs still read it


def test_concurrent_event_appends_never_collide(ports: Ports) -> None:
    now = ports.clock.now()

    def append() -> None:
        for _ in range(20):
            ports.events.append("aaaa0001", created_at=now, level="info", type="m", message="x")

    threads = [threading.Thread(target=append) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.seq for e in ports.events.list("aaaa0001", limit=1000)] == list(range(1, 81))


def test_keys_by_hash(ports: Ports) -> None:
    key = ApiKey(
        id="k1",
        workspace_id="ws",
        key_prefix="nv-abcd",
        key_hash="h" * 64,
        created_at=ports.clock.now(),
    )
    ports.keys.add(key)
    assert ports.keys.find_by_hash("h" * 64) == key
    assert ports.keys.find_by_hash("x" * 64) is None


@pytest.mark.parametrize("truncate", [False, True])
def test_blob_put_keeps_at_most_limit_plus_one(ports: Ports, truncate: bool) -> None:
    data = [b"a" * 600, b"b" * 600]
    limit = 1000 if truncate else 5000
    size, digest, truncated = ports.blobs.put("file-x", data, limit=limit)
    assert truncated is truncate
    assert size == (1001 if truncate else 1200)
    assert ports.blobs.path("file-x").stat().st_size == size
    assert len(digest) == 64


def test_job_slices_follow_the_stable_order_from_a_cursor(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for i in range(5):
        clock.advance(1)
        ports.jobs.add(_job(ports, f"aaaa000{i}", group_id="job-g1" if i % 2 else None))
    ports.jobs.add(_job(ports, "aaaa0009", created_at=clock.now()))  # same time: id breaks ties
    ports.jobs.add(_job(ports, "bbbb0001", workspace="other", created_at=clock.now()))
    ports.jobs.mark_deleted("aaaa0002", clock.now())
    first = ports.jobs.slice("ws", after=None, limit=2)
    assert ([j.id for j in first.items], first.more) == (["aaaa0009", "aaaa0004"], True)
    last = first.items[-1]
    rest = ports.jobs.slice("ws", after=Cursor(last.created_at, last.id), limit=9)
    assert ([j.id for j in rest.items], rest.more) == (["aaaa0003", "aaaa0001", "aaaa0000"], False)
    exact = ports.jobs.slice("ws", after=Cursor(last.created_at, last.id), limit=3)
    assert exact.more is False  # exactly the rest: nothing follows
    oldest = ports.jobs.slice("ws", after=None, limit=2, oldest_first=True)
    assert [j.id for j in oldest.items] == ["aaaa0000", "aaaa0001"]
    on = oldest.items[-1]
    after = ports.jobs.slice("ws", after=Cursor(on.created_at, on.id), limit=9, oldest_first=True)
    assert [j.id for j in after.items] == ["aaaa0003", "aaaa0004", "aaaa0009"]
    group = ports.jobs.slice("ws", after=None, limit=9, group_id="job-g1")
    assert [j.id for j in group.items] == ["aaaa0003", "aaaa0001"]
    assert ports.jobs.get("aaaa0001") == _job(
        ports, "aaaa0001", group_id="job-g1", created_at=group.items[1].created_at,
        updated_at=group.items[1].updated_at,
    )  # fmt: skip


def _group(ports: Ports, group_id: str, workspace: str = "ws", **changes: object) -> JobGroup:
    group = JobGroup(
        id=group_id,
        workspace_id=workspace,
        name="n",
        description="d",
        base_model="tiny-chat",
        objective=Objective.SFT,
        created_at=ports.clock.now(),
        created_by="alice",
        echo={"parameterScale": "LoRA"},
    )
    return dataclasses.replace(group, **changes)  # type: ignore[arg-type]


def test_groups_round_trip_filter_page_and_hide_deleted(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for i, objective in enumerate([Objective.SFT, Objective.DPO, Objective.SFT, Objective.SFT]):
        clock.advance(1)
        ports.groups.add(_group(ports, f"job-{i:012d}", objective=objective))
    ports.groups.add(_group(ports, "job-other0000000", workspace="other"))
    ports.groups.add(_group(ports, "job-base00000000", base_model="other-model"))
    assert ports.groups.get("job-000000000001") == _group(
        ports, "job-000000000001", objective=Objective.DPO, created_at=clock.now().replace(second=8)
    )
    assert ports.groups.get("missing") is None
    ports.groups.mark_deleted("job-000000000003")
    deleted = ports.groups.get("job-000000000003")
    assert deleted is not None and deleted.deleted
    sft = ports.groups.slice(
        "ws", after=None, limit=1, base_model="tiny-chat", objective=Objective.SFT
    )
    assert ([g.id for g in sft.items], sft.more) == (["job-000000000002"], True)
    mark = sft.items[0]
    rest = ports.groups.slice(
        "ws", after=Cursor(mark.created_at, mark.id), limit=5, objective=Objective.SFT
    )
    assert ([g.id for g in rest.items], rest.more) == (["job-000000000000"], False)
    everything = ports.groups.slice("ws", after=None, limit=9, oldest_first=True)
    assert [g.id for g in everything.items][:2] == ["job-000000000000", "job-000000000001"]
    assert len(everything.items) == 4  # the deleted and the other workspace's are hidden


def test_jobs_filter_by_metadata(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for i, metadata in enumerate([{"team": "a", "run": "1"}, {"team": "b"}, None, {"team": "a"}]):
        clock.advance(1)
        ports.jobs.add(_job(ports, f"aaaa000{i}", metadata=metadata))
    both = ports.jobs.slice("ws", after=None, limit=9, metadata={"team": "a"})
    assert [j.id for j in both.items] == ["aaaa0003", "aaaa0000"]
    one = ports.jobs.slice("ws", after=None, limit=9, metadata={"team": "a", "run": "1"})
    assert [j.id for j in one.items] == ["aaaa0000"]
    assert ports.jobs.slice("ws", after=None, limit=9, metadata={"team": "c"}).items == []
    stored = ports.jobs.get("aaaa0000")
    assert stored is not None and stored.metadata == {"team": "a", "run": "1"}


def test_files_slice_by_purpose_and_status_round_trip(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for i, purpose in enumerate(["fine-tune", "fine-tune-results", "fine-tune"]):
        clock.advance(1)
        ports.files.add(
            StoredFile(
                id=f"file-{i}", workspace_id="ws", filename="f.jsonl", bytes=1, sha256="0" * 64,
                purpose=purpose, blob_key=f"file-{i}", created_at=clock.now(),
                status="error" if i == 2 else "processed",
                status_details="file.format: line 1: x" if i == 2 else None,
            )
        )  # fmt: skip
    newest = ports.files.slice("ws", after=None, limit=1, purpose="fine-tune")
    assert ([f.id for f in newest.items], newest.more) == (["file-2"], True)
    assert newest.items[0].status_details == "file.format: line 1: x"
    mark = newest.items[0]
    rest = ports.files.slice("ws", after=Cursor(mark.created_at, mark.id), limit=5)
    assert [f.id for f in rest.items] == ["file-1", "file-0"]
    oldest = ports.files.slice("ws", after=None, limit=5, oldest_first=True)
    assert [f.id for f in oldest.items] == ["file-0", "file-1", "file-2"]


def test_events_newest_first_before_a_position(ports: Ports) -> None:
    now = ports.clock.now()
    for i in range(5):
        ports.events.append("aaaa0001", created_at=now, level="info", type="m", message=f"m{i}")
    assert [e.seq for e in ports.events.latest("aaaa0001", limit=2)] == [5, 4]
    assert [e.seq for e in ports.events.latest("aaaa0001", before_seq=4, limit=9)] == [3, 2, 1]
    assert ports.events.latest("none0001") == []
