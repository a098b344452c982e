"""The request hot path: a key is looked up in the store once per `keycache.TTL_SECONDS`
whatever the route, and the caller is resolved by coroutines (no worker-thread hop for a
remembered key)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.world import World, make_ports
from tuneyard.api import deps
from tuneyard.api.app import create_app
from tuneyard.core.ids import SystemClock
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings


def test_the_caller_dependencies_are_coroutines() -> None:
    """A plain-function dependency would cost a worker-thread hop on every request."""
    assert inspect.iscoroutinefunction(deps.bearer_caller("X-Workspace"))
    assert inspect.iscoroutinefunction(deps._workspace)
    assert inspect.iscoroutinefunction(deps._service)


@pytest.mark.parametrize(
    "path",
    [
        "/tuning/v2/tasks/nothing1",
        "/api/v1/fine-tunes/nothing1",
        "/v1/fine_tuning/jobs/ftjob-nothing1",
        "/tuneyard/v1/jobs/nothing1/events",
        "/tuning/v2/tasks",
        "/api/v1/fine-tunes",
        "/v1/fine_tuning/jobs",
    ],
)
def test_each_dialect_asks_the_store_once_per_key(tmp_path: Path, path: str) -> None:
    world = World(make_ports("sqlite", tmp_path), tmp_path, FakeExecutor())
    key = world.service.credentials.create_key("ws")
    store = world.service.ports.keys
    lookups: list[str] = []
    find = store.find_by_hash

    def counted(key_hash: str):  # type: ignore[no-untyped-def]
        lookups.append(key_hash)
        return find(key_hash)

    store.find_by_hash = counted  # type: ignore[method-assign]
    client = TestClient(create_app(Settings(data_dir=tmp_path), world.service))
    for _ in range(5):
        response = client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code in (200, 404), response.text
    assert len(lookups) == 1


def _job_reads(world: World) -> list[bool]:
    """Whether each read of a job by id ran on the event loop (True) or a worker thread."""
    import asyncio

    store = world.service.ports.jobs
    seen: list[bool] = []
    get = store.get

    def located(job_id: str):  # type: ignore[no-untyped-def]
        try:
            asyncio.get_running_loop()
            seen.append(True)
        except RuntimeError:
            seen.append(False)
        return get(job_id)

    store.get = located  # type: ignore[method-assign]
    return seen


def _get_one_job_in_each_dialect(world: World, tmp_path: Path) -> None:
    from tests.support.clients import Qianfan
    from tests.support.world import job_record
    from tuneyard.kinds import Objective

    service = world.service
    key = service.credentials.create_key("ws")
    access_key, secret_key = service.credentials.create_access_key("ws")
    group = service.groups.create(
        "ws", name="g", description="", base_model="tiny-chat",
        objective=Objective.SFT, created_by=None, echo={},
    )  # fmt: skip
    service.ports.jobs.add(job_record(service.ports, "hot00001", "ws", group_id=group.id))
    client = TestClient(create_app(Settings(data_dir=tmp_path), service))
    bearer = {"Authorization": f"Bearer {key}"}
    for path in (
        "/tuning/v2/tasks/hot00001",
        "/api/v1/fine-tunes/hot00001",
        "/v1/fine_tuning/jobs/ftjob-hot00001",
    ):
        response = client.get(path, headers=bearer)
        assert response.status_code == 200, response.text
    task = Qianfan(access_key, secret_key).call(
        client, "DescribeFineTuningTask", {"taskId": "hot00001"}
    )
    assert task["taskId"] == "hot00001"


def test_a_local_store_reads_one_job_on_the_event_loop(tmp_path: Path) -> None:
    """SQLite on the server's disk: GET one job (every dialect) hops to no worker thread,
    which cost more CPU than the read."""
    world = World(make_ports("sqlite", tmp_path, SystemClock()), tmp_path, FakeExecutor())
    seen = _job_reads(world)
    _get_one_job_in_each_dialect(world, tmp_path)
    assert seen == [True] * 4


def test_a_networked_store_reads_one_job_on_a_worker_thread(tmp_path: Path) -> None:
    """A store that may wait on the network (PostgreSQL) keeps its reads off the loop."""
    import dataclasses

    ports = make_ports("sqlite", tmp_path, SystemClock())
    ports = dataclasses.replace(ports, inline_reads=False)
    world = World(ports, tmp_path, FakeExecutor())
    seen = _job_reads(world)
    _get_one_job_in_each_dialect(world, tmp_path)
    assert seen == [False] * 4


def test_every_router_is_guarded_and_the_schema_keeps_every_route(tmp_path: Path) -> None:
    """`routing.guard_routers`: each included router of the app sits behind its prefix
    guard, and /openapi.json still lists every dialect's routes."""
    import re

    from fastapi.routing import APIRoute

    from tuneyard.api import dialects, routing

    world = World(make_ports("sqlite", tmp_path), tmp_path, FakeExecutor())
    app = create_app(Settings(data_dir=tmp_path), world.service)
    included = [r for r in app.router.routes if hasattr(r, "original_router")]
    assert included and all(isinstance(r, routing.Guarded) for r in included)
    paths = TestClient(app).get("/openapi.json").json()["paths"]
    for dialect in dialects.ALL:
        for router in dialect.routers:
            for route in router.routes:
                if isinstance(route, APIRoute) and route.include_in_schema:
                    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # no converters
                    assert path in paths, route.path


def test_gets_of_one_job_read_together_render_it_once_and_see_each_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a networked store, GETs of a job waiting together share one read and one
    rendering of it; a GET after the job changed renders it afresh."""
    import asyncio
    import dataclasses

    import httpx

    from tests.support.world import job_record
    from tuneyard.api.dialects.clova import translate
    from tuneyard.core.jobs import Progress

    ports = dataclasses.replace(make_ports("sqlite", tmp_path, SystemClock()), inline_reads=False)
    world = World(ports, tmp_path, FakeExecutor())
    key = world.service.credentials.create_key("ws")
    ports.jobs.add(job_record(ports, "hot00002", "ws"))
    renders: list[str] = []
    task = translate.task

    def counted(job):  # type: ignore[no-untyped-def]
        renders.append(job.id)
        return task(job)

    monkeypatch.setattr(translate, "task", counted)
    app = create_app(Settings(data_dir=tmp_path), world.service)
    bearer = {"Authorization": f"Bearer {key}"}

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/tuning/v2/tasks/hot00002", headers=bearer)  # key remembered
            renders.clear()
            together = await asyncio.gather(
                *(client.get("/tuning/v2/tasks/hot00002", headers=bearer) for _ in range(20))
            )
            ports.jobs.save_progress(
                "hot00002", Progress(step=7, total_steps=9), world.service.ports.clock.now()
            )
            after = await client.get("/tuning/v2/tasks/hot00002", headers=bearer)
            return [*together, after]

    *together, after = asyncio.run(main())
    assert {r.status_code for r in together} == {200}
    assert len({r.content for r in together}) == 1
    assert together[0].json()["result"]["statusInfo"]["currStep"] is None
    assert after.json()["result"]["statusInfo"]["currStep"] == 7
    assert 2 <= len(renders) < 10, renders  # the 20 shared a few renderings; then 1 more
