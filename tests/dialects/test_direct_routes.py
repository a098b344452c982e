"""Direct routes (`tuneyard.api.direct`): the hot GETs answered without FastAPI's
per-request machinery, byte for byte as FastAPI answers them, errors included; and the
declarations a direct route cannot honour refused when the app is built."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient

from tests.support.world import World, job_record, make_ports
from tuneyard.api import direct
from tuneyard.api.app import create_app
from tuneyard.kinds import Objective
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

_VARYING = {"date", "x-request-id", "x-ncp-clovastudio-request-id"}
"""Headers that differ between two answers to the same request."""


def _app(tmp_path: Path) -> tuple[FastAPI, dict[str, str]]:
    world = World(make_ports("sqlite", tmp_path), tmp_path, FakeExecutor())
    service = world.service
    key = service.credentials.create_key("ws")
    group = service.groups.create(
        "ws", name="g", description="", base_model="tiny-chat",
        objective=Objective.SFT, created_by=None, echo={},
    )  # fmt: skip
    service.ports.jobs.add(job_record(service.ports, "direct01", "ws", group_id=group.id))
    service.ports.jobs.add(job_record(service.ports, "theirs01", "other"))
    return create_app(Settings(data_dir=tmp_path), service), {"Authorization": f"Bearer {key}"}


def _answer(response: Any) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in _VARYING}
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)  # DashScope's, fresh each time
    return response.status_code, body, headers


GETS = [
    "/tuning/v2/tasks/{}",
    "/api/v1/fine-tunes/{}",
    "/v1/fine_tuning/jobs/ftjob-{}",
    "/tuneyard/v1/jobs/{}",
]


@pytest.mark.parametrize("template", GETS)
@pytest.mark.parametrize("job", ["direct01", "theirs01", "missing1"])
@pytest.mark.parametrize("auth", ["key", "bad key", "none"])
def test_a_direct_route_answers_as_fastapi_does(
    tmp_path: Path, template: str, job: str, auth: str
) -> None:
    """The same status, body and headers (ids and dates aside) through the direct path
    and through FastAPI's, for a job of the caller's, another workspace's, a missing one,
    and for a bad or missing key (errors in the dialect's envelope)."""
    app, bearer = _app(tmp_path)
    headers = {"key": bearer, "bad key": {"Authorization": "Bearer nope"}, "none": {}}[auth]
    client = TestClient(app)
    path = template.format(job)
    direct_answer = _answer(client.get(path, headers=headers))
    app.dependency_overrides[_app] = lambda: None  # any override: every request is FastAPI's
    fastapi_answer = _answer(client.get(path, headers=headers))
    assert direct_answer == fastapi_answer
    assert direct_answer[0] == (200 if (job, auth) == ("direct01", "key") else direct_answer[0])


@pytest.mark.parametrize("template", GETS)
def test_a_direct_route_skips_fastapi_dependency_solving(
    tmp_path: Path, template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Would fail if the GET went through FastAPI's router: solving dependencies raises."""
    import fastapi.routing

    app, bearer = _app(tmp_path)
    client = TestClient(app, raise_server_exceptions=False)

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("FastAPI solved a direct route's dependencies")

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", refuse)
    assert client.get(template.format("direct01"), headers=bearer).status_code == 200
    assert client.get("/tuning/v2/tasks", headers=bearer).status_code == 500  # not direct


def test_every_hot_get_of_a_job_is_direct(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    paths = {c.route.path for c in direct.compile_routes(app)}
    assert {
        "/tuning/v2/tasks/{task_id}",
        "/api/v1/fine-tunes/{job_id}",
        "/v1/fine_tuning/jobs/{job_id}",
        "/tuneyard/v1/jobs/{job_id}",
    } <= paths


async def _who(request: Request) -> str:
    return request.headers.get("x-who", "")


def _compile(router: APIRouter, *, ahead: APIRouter | None = None) -> None:
    app = FastAPI()
    if ahead is not None:
        app.include_router(ahead)
    app.include_router(router)
    direct.compile_routes(app)


def test_a_direct_route_may_take_path_parameters_the_request_and_its_dependencies() -> None:
    router = APIRouter()

    @direct.get(router, "/things/{thing}")
    async def thing(thing: str, request: Request, who: Annotated[str, Depends(_who)]) -> Response:
        return JSONResponse({"thing": thing, "who": who})

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(
        direct.DirectRoutes, routes=direct.compile_routes(app), overrides=app.dependency_overrides
    )
    answer = TestClient(app).get("/things/t%201", headers={"x-who": "me"})
    assert answer.json() == {"thing": "t 1", "who": "me"}


def test_a_query_parameter_is_refused() -> None:
    router = APIRouter()

    @direct.get(router, "/things/{thing}")
    async def thing(thing: str, page: str = "0") -> Response:
        return JSONResponse({})

    with pytest.raises(TypeError, match="page"):
        _compile(router)


async def _needs(request: Request, x: str) -> str:
    return x


def test_a_dependency_of_more_than_the_request_is_refused() -> None:
    router = APIRouter()

    @direct.get(router, "/things/{thing}")
    async def thing(thing: str, y: Annotated[str, Depends(_needs)]) -> Response:
        return JSONResponse({})

    with pytest.raises(TypeError, match="request alone"):
        _compile(router)


def test_an_endpoint_that_does_not_return_a_response_is_refused() -> None:
    router = APIRouter()

    @direct.get(router, "/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:  # type: ignore[type-var]
        return {}

    with pytest.raises(TypeError, match="Response"):
        _compile(router)


def test_a_route_ahead_that_would_take_the_path_is_refused() -> None:
    """FastAPI would answer `/things/special` from the route ahead; so a direct route
    behind it must not exist."""
    ahead = APIRouter()

    @ahead.get("/things/{name}")
    async def any_thing(name: str) -> dict[str, str]:
        return {}

    router = APIRouter()

    @direct.get(router, "/things/{thing}")
    async def thing(thing: str) -> Response:
        return JSONResponse({})

    with pytest.raises(TypeError, match="takes it first"):
        _compile(router, ahead=ahead)
    ahead_post = APIRouter()

    @ahead_post.post("/things/{name}")
    async def post_thing(name: str) -> dict[str, str]:
        return {}

    _compile(router, ahead=ahead_post)  # a POST ahead takes no GET
