"""The Playground: a tuned model and its base answer the same message side by side, each
streamed by the same engine the chat routes use; refusals before the stream are JSON;
CSRF and workspaces enforced."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from tests.console.consoleapp import Pages
from tuneyard import errors
from tuneyard.api.console import playground
from tuneyard.core.jobs import Job
from tuneyard.serving import protocol

HELLO = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    return Pages(tmp_path)


@pytest.fixture
def job(pages: Pages) -> Job:
    return pages.succeeded_job()


def _frames(text: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def _chat(pages: Pages, model: str, **fields: Any) -> Any:
    body = {"model": model, "messages": HELLO, "temperature": 0, "max_tokens": 16, **fields}
    return pages.browser.post("/console/playground/chat", json=body)


def test_the_page_offers_the_tuned_model_and_its_base(pages: Pages, job: Job) -> None:
    page = pages.browser.page(f"/console/playground?job={job.id}&step=2")
    assert page.status_code == 200
    assert f'<option value="job:{job.id}:2" data-base="base:tiny-chat" selected>' in page.text
    assert f'<option value="job:{job.id}" data-base="base:tiny-chat"' in page.text
    assert '<option value="base:tiny-chat">' in page.text
    for element in ("tuned-output", "base-output", "prompt", "send-button"):
        assert f'id="{element}"' in page.text


def test_both_sides_stream_their_tokens(pages: Pages, job: Job) -> None:
    tuned = _chat(pages, f"job:{job.id}")
    base = _chat(pages, "base:tiny-chat")
    for answer in (tuned, base):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/event-stream")
        frames = _frames(answer.text)
        assert frames == [
            ("token", {"text": "hello"}),
            ("token", {"text": " world"}),
            ("finished", {"reason": "stop"}),
            ("done", {"prompt_tokens": 12, "completion_tokens": 2}),
        ]
    tuned_request, base_request = pages.engine.requests[-2:]
    assert isinstance(tuned_request, protocol.Generate)
    assert isinstance(base_request, protocol.Generate)
    stored = pages.world.service.jobs.get("ws", job.id)
    assert tuned_request.target.adapter == stored.output_path
    assert base_request.target.adapter is None and base_request.target.builtin == "tiny-chat"
    assert tuned_request.sampling.temperature == 0.0 and tuned_request.sampling.max_tokens == 16
    assert tuned_request.messages == tuple(HELLO)


def test_a_checkpoint_and_a_deployment_answer_too(pages: Pages, job: Job) -> None:
    checkpoint = _chat(pages, f"job:{job.id}:4")
    assert checkpoint.status_code == 200 and '"hello"' in checkpoint.text
    sent = pages.engine.requests[-1]
    assert isinstance(sent, protocol.Generate) and "step-00000004" in (sent.target.adapter or "")
    made = pages.browser.post("/console/deployments", json={"job_id": job.id, "name": "live"})
    assert made.status_code == 201
    deployed = _chat(pages, "deployment:live")
    assert deployed.status_code == 200 and "event: done" in deployed.text
    assert pages.app.state.deployment_slots.busy(made.json()["id"]) == 0  # given back


def test_an_engine_failure_before_the_first_token_is_an_http_error(pages: Pages) -> None:
    messages = [{"role": "user", "content": "please !fail"}]
    answer = _chat(pages, "base:tiny-chat", messages=messages)
    assert answer.status_code == 500  # the first event is the failure: no stream began
    assert answer.json()["error"]["code"] == "internal"


def test_refusals_come_before_the_stream(pages: Pages, job: Job) -> None:
    for model, status in (
        ("job:nosuchjob", 404),
        (f"job:{job.id}:3", 404),  # no checkpoint at step 3
        ("deployment:none", 404),
        ("base:nosuch", 404),
        ("tiny-chat", 400),
    ):
        answer = _chat(pages, model)
        assert answer.status_code == status, (model, answer.text)
        assert answer.json()["error"]["param"] == "model"
    too_long = _chat(pages, "base:tiny-chat", max_tokens=5000)
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "max_tokens"
    last = _chat(pages, "base:tiny-chat", messages=[{"role": "assistant", "content": "x"}])
    assert last.status_code == 400 and last.json()["error"]["param"] == "messages"


def test_a_chat_without_the_csrf_token_is_refused(pages: Pages) -> None:
    body = {"model": "base:tiny-chat", "messages": HELLO}
    answer = pages.browser.post("/console/playground/chat", csrf=False, json=body)
    assert answer.status_code == 403
    assert pages.engine.requests == []


def test_another_workspaces_job_is_not_found(pages: Pages) -> None:
    theirs = pages.succeeded_job("other")
    answer = _chat(pages, f"job:{theirs.id}")
    assert answer.status_code == 404
    assert pages.engine.requests == []
    assert f"job:{theirs.id}" not in pages.browser.page("/console/playground").text


def test_an_error_after_the_stream_began_ends_it_with_an_error_event() -> None:
    async def events() -> AsyncGenerator[protocol.Event, None]:
        yield protocol.Token(id="r", index=0, text=" more")
        raise errors.InferenceUnavailable("The inference engine stopped; retry the request.")

    async def read() -> list[str]:
        first = protocol.Token(id="r", index=0, text="some")
        return [frame async for frame in playground.frames(first, events())]

    frames = _frames("".join(asyncio.run(read())))
    assert frames == [
        ("token", {"text": "some"}),
        ("token", {"text": " more"}),
        (
            "error",
            {"code": "unavailable", "message": "The inference engine stopped; retry the request."},
        ),
    ]
