"""OpenAI chat completions and models through the real app, with the fake inference port:
golden exchanges, the `openai` SDK with strict response validation, every bad input a
clear 4xx, a client that leaves mid-stream, and one workspace's models hidden from
another's key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from tests.support import golden
from tests.support.asgi import OpenCall, data_frames
from tests.support.world import (
    EXAMPLES,
    ManualClock,
    World,
    job_record,
    make_ports,
    run_with_checkpoints,
)
from tuneyard import errors
from tuneyard.api.app import create_app
from tuneyard.api.dialects.openai import translate
from tuneyard.core.states import JobStatus
from tuneyard.kinds import TaskType
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.serving import protocol
from tuneyard.serving.fake import FakeInference
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()
HELLO = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]


class Api:
    """The app over a fake engine, keys for two workspaces, raw HTTP and the SDK."""

    def __init__(self, tmp_path: Path, engine: FakeInference | None = None) -> None:
        self.clock = ManualClock()
        ports = make_ports("memory", tmp_path, self.clock)
        self.world = World(ports, tmp_path, FakeExecutor(run_with_checkpoints))
        self.engine = engine or FakeInference()
        self.app = create_app(
            Settings(data_dir=tmp_path), self.world.service, inference=self.engine
        )
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers = self.bearer("ws")
        self.sdk = self.openai(self.headers)
        self.ids: dict[str, str] = {}

    def bearer(self, workspace: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.service.credentials.create_key(workspace)}"}

    def openai(self, headers: dict[str, str]) -> openai.OpenAI:
        return openai.OpenAI(
            base_url="http://testserver/v1",
            api_key=headers["Authorization"].removeprefix("Bearer "),
            http_client=self.client,
            max_retries=0,
            _strict_response_validation=True,
        )

    def name(self, real: str, kind: str) -> str:
        return self.ids.setdefault(real, f"<{kind}-{len(self.ids) + 1}>")

    def tuned(self, sdk: openai.OpenAI | None = None) -> str:
        """A succeeded job's `fine_tuned_model` (checkpoints at steps 2 and 4)."""
        sdk = sdk or self.sdk
        self.clock.advance(1)
        stored = sdk.files.create(file=("train.jsonl", CHAT), purpose="fine-tune")
        job = sdk.fine_tuning.jobs.create(model="tiny-chat", training_file=stored.id)
        self.name(job.id.removeprefix("ftjob-"), "neutral-id")
        self.name(stored.id, "file-id")
        self.world.wait_status(job.id.removeprefix("ftjob-"), JobStatus.SUCCEEDED)
        model = sdk.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
        assert model is not None
        return model

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return self.client.post("/v1/chat/completions", json=body, headers=headers or self.headers)

    def exchange(self, name: str, method: str, url: str, response: Any, request: Any = None) -> Any:
        assert response.headers["x-request-id"].startswith("req_")
        return golden.exchange(f"openai/{name}", method, url, request, response, self.ids)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_a_completion_from_a_fine_tuned_model(api: Api) -> None:
    model = api.tuned()
    request = {"model": model, "messages": HELLO, "temperature": 0, "seed": 7}
    response = api.post(request)
    api.name(response.json()["id"], "completion-id")
    body = api.exchange("chat-completion", "POST", "/v1/chat/completions", response, request)
    choice = body["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("hello world", "stop")
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
    assert body["object"] == "chat.completion" and body["model"] == model
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate) and sent.sampling.temperature == 0.0
    job = api.world.service.jobs.get("ws", model.rsplit(":", 1)[-1])
    assert sent.target == protocol.Target(
        base=sent.target.base, adapter=job.output_path, builtin="tiny-chat"
    )  # its adapter sits on the built-in tiny-chat, which the worker writes out if absent
    assert sent.sampling.seed == 7 and sent.messages[0] == {"role": "system", "content": "be brief"}
    sdk = api.sdk.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert sdk.choices[0].message.content == "hello world" and sdk.usage is not None


def test_a_streamed_completion(api: Api) -> None:
    model = api.tuned()
    request = {
        "model": model,
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = api.post(request)
    assert response.headers["content-type"].startswith("text/event-stream")
    data = data_frames(response.text)
    api.name(data[0]["id"], "completion-id")
    api.exchange("chat-completion-stream", "POST", "/v1/chat/completions", response, request)
    assert data[-1] == "[DONE]"
    assert data[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(d["object"] == "chat.completion.chunk" for d in data[:-1])
    text = "".join(d["choices"][0]["delta"].get("content", "") for d in data[:-2])
    assert text == "hello world"
    assert data[-3]["choices"][0]["finish_reason"] == "stop"
    assert data[-2]["choices"] == [] and data[-2]["usage"]["total_tokens"] == 14
    stream = api.sdk.chat.completions.create(model=model, messages=HELLO, stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello world"
    assert all(c.usage is None for c in chunks)  # no include_usage: no usage chunk


def test_choices_logprobs_stops_and_lengths(api: Api) -> None:
    reply = api.sdk.chat.completions.create(
        model="tiny-chat",
        messages=[{"role": "user", "content": "one two three"}],
        n=2,
        logprobs=True,
        top_logprobs=2,
        max_completion_tokens=2,
    )
    assert [c.message.content for c in reply.choices] == ["one two", "one(1) two(1)"]
    assert [c.finish_reason for c in reply.choices] == ["length", "length"]
    first = reply.choices[0].logprobs
    assert first is not None and first.content is not None
    assert [t.token for t in first.content] == ["one", " two"]
    assert first.content[0].bytes == list(b"one") and first.content[0].logprob == -0.5
    assert [t.token for t in first.content[0].top_logprobs] == ["one", " the"]
    stopped = api.sdk.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "a b c"}], stop=["b"]
    )
    assert stopped.choices[0].message.content == "a " and stopped.choices[0].finish_reason == "stop"
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate) and sent.target.adapter is None  # a base model


def test_a_checkpoint_is_served_by_its_name(api: Api) -> None:
    model = api.tuned()
    reply = api.sdk.chat.completions.create(model=model + ":ckpt-step-2", messages=HELLO)  # type: ignore[arg-type]
    assert reply.model == model + ":ckpt-step-2"
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate) and str(sent.target.adapter).endswith(
        "step-00000002"
    )
    missing = api.post({"model": model + ":ckpt-step-3", "messages": HELLO})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def _with(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "tiny-chat", "messages": HELLO}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


BAD = [
    (_with(temperature=-1), "temperature"),
    (_with(temperature=2.5), "temperature"),
    (_with(temperature="1"), "temperature"),
    (_with(temperature=True), "temperature"),
    (_with(top_p=1.5), "top_p"),
    (_with(n=1000), "n"),
    (_with(n=0), "n"),
    (_with(max_tokens=0), "max_tokens"),
    (_with(max_completion_tokens=-5), "max_completion_tokens"),
    (_with(max_tokens=1.5), "max_tokens"),
    (_with(frequency_penalty=2.5), "frequency_penalty"),
    (_with(presence_penalty=-3), "presence_penalty"),
    (_with(stop=["a", "b", "c", "d", "e"]), "stop"),
    (_with(stop=[""]), "stop"),
    (_with(stop=7), "stop"),
    (_with(seed="x"), "seed"),
    (_with(logprobs="yes"), "logprobs"),
    (_with(top_logprobs=3), "top_logprobs"),
    (_with(logprobs=True, top_logprobs=21), "top_logprobs"),
    (_with(response_format={"type": "json_object"}), "response_format"),
    (_with(stream_options={"include_usage": True}), "stream_options"),
    (_with(tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
    (_with(messages=[]), "messages"),
    (_with(messages=[{"role": "tool", "content": "x"}]), "messages.0.role"),
    (_with(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), "messages.0.content"),
    (_with(model=...), "model"),
    (_with(temprature=1), "temprature"),
]


@pytest.mark.parametrize("body, param", BAD, ids=[p + str(i) for i, (_, p) in enumerate(BAD)])
def test_bad_values_are_a_400_naming_the_field(api: Api, body: dict[str, Any], param: str) -> None:
    response = api.post(body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert api.engine.requests == []  # refused before the engine saw it


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_a_400_naming_the_field(api: Api, literal: str) -> None:
    raw = json.dumps({"model": "tiny-chat", "messages": HELLO}).replace(
        '"messages"', f'"temperature": {literal}, "messages"'
    )
    response = api.client.post(
        "/v1/chat/completions",
        content=raw,
        headers={**api.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"


def test_a_prompt_past_the_context_is_a_400_with_the_limit(api: Api) -> None:
    request = {"model": "tiny-chat", "messages": HELLO, "max_tokens": 100_000}
    response = api.post(request)
    body = api.exchange("chat-context-length", "POST", "/v1/chat/completions", response, request)
    assert response.status_code == 400 and body["error"]["code"] == "context_length_exceeded"
    assert "maximum context length is 1024 tokens" in body["error"]["message"]
    with pytest.raises(openai.BadRequestError):
        api.sdk.chat.completions.create(model="tiny-chat", messages=HELLO, stream=True,  # type: ignore[arg-type]
                                        max_tokens=100_000)  # fmt: skip
    assert api.engine.outstanding == 0


def test_models_that_cannot_be_used(api: Api) -> None:
    request = {"model": "gpt-5", "messages": HELLO}
    response = api.post(request)
    body = api.exchange("chat-unknown-model", "POST", "/v1/chat/completions", response, request)
    assert response.status_code == 404 and body["error"]["code"] == "model_not_found"
    assert body["error"]["message"] == (
        "The model `gpt-5` does not exist or you do not have access to it."
    )
    with pytest.raises(openai.NotFoundError):
        api.sdk.chat.completions.create(model="gpt-5", messages=HELLO)  # type: ignore[arg-type]
    theirs = api.tuned(api.openai(api.bearer("other")))
    mine = api.tuned()
    for name in (theirs, mine.replace(":ws:", ":other:"), "ft:tiny-chat:ws::nope", "ft:"):
        refused = api.post({"model": name, "messages": HELLO})
        assert refused.status_code == 404, name
    running = api.world.ports.jobs
    running.add(job_record(api.world.ports, "busy0001", status=JobStatus.RUNNING, dialect="openai"))
    busy = translate.model_name(api.world.service.jobs.get("ws", "busy0001"), "ws")
    not_ready = api.post({"model": busy, "messages": HELLO})
    assert not_ready.status_code == 404 and "not ready" in not_ready.json()["error"]["message"]
    assert api.engine.requests == []  # none reached the engine


def test_a_classification_model_does_not_chat(api: Api, tmp_path: Path) -> None:
    output = tmp_path / "classifier"
    output.mkdir()
    api.world.ports.jobs.add(
        job_record(
            api.world.ports, "clf00001", status=JobStatus.SUCCEEDED, output_path=str(output),
            task_type=TaskType.CLASSIFICATION, base_model="minilm-l6",
        )
    )  # fmt: skip
    name = translate.model_name(api.world.service.jobs.get("ws", "clf00001"), "ws")
    refused = api.post({"model": name, "messages": HELLO})
    assert (
        refused.status_code == 400 and "classification model" in refused.json()["error"]["message"]
    )


def test_a_full_queue_is_a_429_with_retry_after(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeInference(max_queued=0))
    response = api.post({"model": "tiny-chat", "messages": HELLO})
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


class _FailsMidStream(FakeInference):
    async def generate(self, request: protocol.Generate) -> AsyncGenerator[protocol.Event, None]:
        yield protocol.Accepted(id=request.id, prompt_tokens=3)
        yield protocol.Token(id=request.id, index=0, text="partial")
        raise errors.InferenceUnavailable("The inference engine stopped; retry the request.")


def test_an_engine_failure_mid_stream_ends_the_stream_with_an_error(tmp_path: Path) -> None:
    api = Api(tmp_path, _FailsMidStream())
    response = api.post({"model": "tiny-chat", "messages": HELLO, "stream": True})
    data = data_frames(response.text)
    assert response.status_code == 200 and data[1]["choices"][0]["delta"]["content"] == "partial"
    assert data[-1]["error"]["type"] == "server_error" and "[DONE]" not in data
    broken = api.post({"model": "tiny-chat", "messages": HELLO})
    assert broken.status_code == 503 and broken.json()["error"]["code"] == "service_unavailable"


def test_a_client_that_leaves_mid_stream_frees_its_slot(api: Api) -> None:
    body = {
        "model": "tiny-chat",
        "messages": [{"role": "user", "content": "!hang"}],
        "stream": True,
    }

    async def scenario() -> None:
        leaving = OpenCall(api.app, "POST", "/v1/chat/completions", json=body, headers=api.headers)
        await asyncio.wait_for(leaving.started.wait(), 10)
        assert leaving.body.startswith(b"data:")
        assert api.engine.outstanding == 1
        leaving.gone.set()
        await asyncio.wait_for(leaving.task, 10)

    asyncio.run(scenario())
    assert api.engine.outstanding == 0
    generate, cancel = api.engine.requests
    assert isinstance(cancel, protocol.Cancel) and cancel.id == generate.id  # type: ignore[union-attr]


def test_list_retrieve_and_delete_models(api: Api) -> None:
    older = api.tuned()
    newer = api.tuned()
    listed = api.exchange(
        "list-models", "GET", "/v1/models", api.client.get("/v1/models", headers=api.headers)
    )
    assert [m["id"] for m in listed["data"]] == ["minilm-l6", "tiny-chat", newer, older]
    assert {m["owned_by"] for m in listed["data"]} == {"tuneyard", "ws"}
    assert [m.id for m in api.sdk.models.list()] == ["minilm-l6", "tiny-chat", newer, older]
    one = api.exchange("retrieve-model", "GET", f"/v1/models/{older}",
                       api.client.get(f"/v1/models/{older}", headers=api.headers))  # fmt: skip
    assert one == {"id": older, "object": "model", "created": one["created"], "owned_by": "ws"}
    assert api.sdk.models.retrieve("tiny-chat").owned_by == "tuneyard"
    assert api.sdk.models.retrieve(older + ":ckpt-step-4").id == older + ":ckpt-step-4"
    gone = api.exchange("delete-model", "DELETE", f"/v1/models/{older}",
                        api.client.delete(f"/v1/models/{older}", headers=api.headers))  # fmt: skip
    assert gone == {"id": older, "object": "model", "deleted": True}
    assert [m.id for m in api.sdk.models.list()] == ["minilm-l6", "tiny-chat", newer]
    for refused in (
        api.client.get(f"/v1/models/{older}", headers=api.headers),
        api.client.delete(f"/v1/models/{older}", headers=api.headers),
        api.post({"model": older, "messages": HELLO}),
        api.post({"model": older + ":ckpt-step-2", "messages": HELLO}),
    ):
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "model_not_found"
    job = api.sdk.fine_tuning.jobs.retrieve("ftjob-" + older.rsplit(":", 1)[-1])
    assert job.status == "succeeded"  # the job stays
    checkpoint = api.client.delete(f"/v1/models/{newer}:ckpt-step-2", headers=api.headers)
    assert checkpoint.status_code == 400 and checkpoint.json()["error"]["param"] == "model"
    assert api.client.delete("/v1/models/tiny-chat", headers=api.headers).status_code == 403
    assert api.sdk.models.delete(newer).deleted is True


def test_a_key_sees_only_its_workspaces_tuned_models(api: Api) -> None:
    other = api.bearer("other")
    theirs = api.tuned(api.openai(other))
    mine = api.tuned()
    seen = [m["id"] for m in api.client.get("/v1/models", headers=other).json()["data"]]
    assert seen == ["minilm-l6", "tiny-chat", theirs]
    for name in (mine, mine + ":ckpt-step-2"):
        assert api.client.get(f"/v1/models/{name}", headers=other).status_code == 404
        assert api.client.delete(f"/v1/models/{name}", headers=other).status_code == 404
    assert api.client.get(f"/v1/models/{mine}", headers=api.headers).status_code == 200
    assert api.client.get("/v1/models", headers={"Authorization": "Bearer x"}).status_code == 401
