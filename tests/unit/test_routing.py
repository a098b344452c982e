"""`routing.guard_routers`: routers that cannot hold a path are skipped, and which route
answers (or 404, 405, a trailing-slash redirect) is what FastAPI alone gives."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from tuneyard.api import routing


def _app(guarded: bool) -> FastAPI:
    app = FastAPI()
    first = APIRouter(prefix="/a")
    second = APIRouter(prefix="/b")
    nested = APIRouter(prefix="/c")

    @first.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"router": "a", "item": item_id}

    @second.get("/items/{item_id}")
    async def other(item_id: str) -> dict[str, str]:
        return {"router": "b", "item": item_id}

    @second.get("/list/")
    async def listing() -> dict[str, str]:
        return {"router": "b", "list": "yes"}

    @nested.post("/deep/{x}")
    async def deep(x: str) -> dict[str, str]:
        return {"router": "c", "x": x}

    second.include_router(nested)
    app.include_router(first)
    app.include_router(second)
    if guarded:
        routing.guard_routers(app)
    return app


def test_literal_prefixes_of_routes_and_nested_routers() -> None:
    app = _app(guarded=False)
    prefixes = [routing.literal_prefixes(r) for r in app.router.routes[-2:]]
    assert prefixes == [("/a/items/",), ("/b/c/deep/", "/b/items/", "/b/list/")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/a/items/1"),
        ("GET", "/b/items/2"),
        ("GET", "/b/list/"),
        ("GET", "/b/list"),  # redirected to the slash
        ("POST", "/b/c/deep/3"),
        ("GET", "/b/c/deep/3"),  # 405
        ("GET", "/nowhere"),  # 404
        ("GET", "/openapi.json"),
    ],
)
def test_every_answer_is_what_fastapi_alone_gives(method: str, path: str) -> None:
    plain = TestClient(_app(guarded=False), follow_redirects=False)
    guarded = TestClient(_app(guarded=True), follow_redirects=False)
    expected = plain.request(method, path)
    got = guarded.request(method, path)
    assert (got.status_code, got.headers.get("location"), got.content) == (
        expected.status_code,
        expected.headers.get("location"),
        expected.content,
    )


def test_a_router_that_cannot_hold_the_path_is_not_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(guarded=True)
    first = app.router.routes[-2]
    assert isinstance(first, routing.Guarded)
    tried: list[str] = []
    inner_matches = first.inner.matches

    def counted(scope: dict[str, Any]) -> tuple[Match, dict[str, Any]]:
        tried.append(scope["path"])
        return inner_matches(scope)

    monkeypatch.setattr(first.inner, "matches", counted)
    client = TestClient(app)
    assert client.get("/b/items/9").json() == {"router": "b", "item": "9"}
    assert tried == []
    assert client.get("/a/items/9").json() == {"router": "a", "item": "9"}
    assert tried == ["/a/items/9"]
