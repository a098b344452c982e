"""CLOVA chat completions on a tuned task (v1 and v3 shapes, every path its clients call)
and CLOVA's OpenAI-compatible `/v1/openai`, through the real app over the fake engine:
golden exchanges, CLOVA's stream framing, the sampling sent to the engine, every refusal
in CLOVA's envelope, a classification task's label, and one workspace's tasks hidden from
another's key in every form, streaming included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support import golden
from tests.support.world import EXAMPLES, ManualClock, World, job_record, make_ports
from tests.support.world import run_with_checkpoints as run
from tuneyard import errors
from tuneyard.api.app import create_app
from tuneyard.api.dialects.clova import chat_routes
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Method, TaskType
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.serving import protocol
from tuneyard.serving.fake import FakeInference
from tuneyard.settings import Settings

SAMPLE = (EXAMPLES / "clova-generation.csv").read_bytes()
HELLO = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]
REQUEST_ID = "X-NCP-CLOVASTUDIO-REQUEST-ID"
V1 = {  # golden name → path template: every path of chat_routes.V1_PATHS
    "chat-v1-testapp": "/testapp/v1/tasks/{}/chat-completions",
    "chat-v1-serviceapp": "/serviceapp/v1/tasks/{}/chat-completions",
    "chat-v1": "/v1/tasks/{}/chat-completions",
    "chat-v2": "/v2/tasks/{}/chat-completions",
}
V3 = {
    "chat-v3": "/v3/tasks/{}/chat-completions",
    "chat-v3-testapp": "/testapp/v3/tasks/{}/chat-completions",
    "chat-v3-serviceapp": "/serviceapp/v3/tasks/{}/chat-completions",
}
EVERY_PATH = [*V1.values(), *V3.values()]
assert sorted(p.replace("{}", "{task_id}") for p in EVERY_PATH) == sorted(
    [*chat_routes.V1_PATHS, *chat_routes.V3_PATHS]
)


class Api:
    """The app over a fake engine, keys for workspaces ws and other."""

    def __init__(self, tmp_path: Path, engine: FakeInference | None = None) -> None:
        self.clock = ManualClock()
        self.world = World(make_ports("memory", tmp_path, self.clock), tmp_path, FakeExecutor(run))
        self.engine = engine or FakeInference()
        self.app = create_app(
            Settings(data_dir=tmp_path), self.world.service, inference=self.engine
        )
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers = self.bearer("ws")
        self.other = self.bearer("other")
        self.ids: dict[str, str] = {}

    def bearer(self, workspace: str) -> dict[str, str]:
        key = self.world.service.credentials.create_key(workspace)
        return {"Authorization": f"Bearer {key}", REQUEST_ID: "clova-request-1"}

    def task(self, *, succeed: bool = True, headers: dict[str, str] | None = None) -> str:
        """A CLOVA task on tiny-chat, created through the tuning API (and trained)."""
        self.clock.advance(1)
        response = self.client.post(
            "/tuning/v2/tasks",
            headers=headers or self.headers,
            data={"model": "tiny-chat", "trainEpochs": "2", "name": "chat-task"},
            files={"file": ("train.csv", SAMPLE, "text/csv")},
        )
        assert response.status_code == 200, response.text
        task_id: str = response.json()["result"]["id"]
        self.ids.setdefault(task_id, f"<task-id-{len(self.ids) + 1}>")
        if succeed:
            self.world.wait_status(task_id, JobStatus.SUCCEEDED)
        return task_id

    def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None, *, stream: bool = False
    ) -> Any:
        sent = dict(headers or self.headers)
        if stream:
            sent["Accept"] = "text/event-stream"
        return self.client.post(path, json=body, headers=sent)

    def exchange(self, name: str, url: str, response: Any, request: Any) -> Any:
        return golden.exchange(f"clova/{name}", "POST", url, request, response, self.ids)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def events(text: str) -> list[tuple[str, str, Any]]:
    """(id, event, data) of each server-sent event of a CLOVA stream."""
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines())
        found.append((fields["id"], fields["event"], json.loads(fields["data"])))
    return found


V1_BODY = {
    "messages": HELLO,
    "topP": 0.8,
    "topK": 3,
    "maxTokens": 50,
    "temperature": 0.25,
    "repeatPenalty": 5.0,
    "stopBefore": [],
    "seed": 7,
    "includeAiFilters": True,
}
V3_BODY = {
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
    "topP": 0.9,
    "topK": 0,
    "maxCompletionTokens": 50,
    "temperature": 0.5,
    "repetitionPenalty": 1.05,
    "stop": [],
    "seed": 11,
}


@pytest.mark.parametrize("name", list(V1))
def test_a_v1_chat_completion_on_a_tuned_task(api: Api, name: str) -> None:
    task = api.task()
    url = V1[name].format(task)
    response = api.post(url, V1_BODY)
    body = api.exchange(name, url, response, V1_BODY)
    assert response.headers[REQUEST_ID] == "clova-request-1"
    assert body["status"] == {"code": "20000", "message": "OK"}
    assert body["result"] == {
        "message": {"role": "assistant", "content": "hello world"},
        "inputLength": 12,
        "outputLength": 2,
        "stopReason": "end_token",
        "seed": 7,
        "aiFilter": [],
    }
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate)
    assert sent.target.adapter == api.world.service.jobs.get("ws", task).output_path
    assert sent.sampling == protocol.Sampling(
        max_tokens=50, temperature=0.25, top_p=0.8, top_k=3, seed=7, repetition_penalty=1.1
    )


@pytest.mark.parametrize("name", list(V3))
def test_a_v3_chat_completion_on_a_tuned_task(api: Api, name: str) -> None:
    task = api.task()
    url = V3[name].format(task)
    response = api.post(url, V3_BODY)
    body = api.exchange(name, url, response, V3_BODY)
    assert body["result"] == {
        "message": {"role": "assistant", "content": "hello world"},
        "finishReason": "stop",
        "created": int(api.clock.now().timestamp() * 1000),
        "seed": 11,
        "usage": {"promptTokens": 6, "completionTokens": 2, "totalTokens": 8},
    }
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate)
    assert sent.messages == ({"role": "user", "content": "hello world"},)
    assert sent.sampling == protocol.Sampling(
        max_tokens=50, temperature=0.5, top_p=0.9, seed=11, repetition_penalty=1.05
    )


def test_clova_defaults_a_random_seed_and_the_stop_reasons(api: Api) -> None:
    task = api.task()
    url = V1["chat-v1-testapp"].format(task)
    plain = api.post(url, {"messages": HELLO}).json()["result"]
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate)
    assert sent.sampling.seed == plain["seed"] and 1 <= plain["seed"] <= 4_294_967_295
    assert (sent.sampling.max_tokens, sent.sampling.temperature, sent.sampling.top_p) == (
        100,
        0.5,
        0.8,
    )
    short = api.post(url, {"messages": HELLO, "maxTokens": 1}).json()["result"]
    assert (short["stopReason"], short["message"]["content"]) == ("length", "hello")
    stopped = api.post(url, {"messages": HELLO, "stopBefore": [" wor"]}).json()["result"]
    assert (stopped["stopReason"], stopped["message"]["content"]) == ("stop_before", "hello")
    v3 = api.post(V3["chat-v3"].format(task), {"messages": HELLO, "maxTokens": 1}).json()
    assert v3["result"]["finishReason"] == "length"


def test_a_v1_stream_is_tokens_then_the_result_then_the_signal(api: Api) -> None:
    task = api.task()
    url = V1["chat-v1-testapp"].format(task)
    response = api.post(url, V1_BODY, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers[REQUEST_ID] == "clova-request-1"
    api.exchange("chat-v1-stream", url, response, V1_BODY)
    found = events(response.text)
    assert {i for i, _, _ in found} == {"clova-request-1"}
    assert [e for _, e, _ in found] == ["token", "token", "result", "signal"]
    assert found[0][2] == {
        "message": {"role": "assistant", "content": "hello"},
        "index": 0,
        "inputLength": 12,
        "outputLength": 1,
        "stopReason": None,
    }
    assert found[2][2]["message"]["content"] == "hello world"
    assert found[2][2]["stopReason"] == "end_token" and found[3][2] == {"data": "[DONE]"}
    assert response.text.startswith('id:clova-request-1\nevent:token\ndata:{"message"')


def test_a_v3_stream_is_tokens_then_the_result(api: Api) -> None:
    task = api.task()
    url = V3["chat-v3"].format(task)
    response = api.post(url, V3_BODY, stream=True)
    api.exchange("chat-v3-stream", url, response, V3_BODY)
    found = events(response.text)
    assert [e for _, e, _ in found] == ["token", "token", "result"]
    assert found[1][2]["message"]["content"] == " world" and found[1][2]["usage"] is None
    assert found[2][2]["usage"] == {"promptTokens": 6, "completionTokens": 2, "totalTokens": 8}
    assert found[2][2]["finishReason"] == "stop" and found[2][2]["seed"] == 11


def test_without_a_request_id_the_stream_uses_its_own(api: Api) -> None:
    task = api.task()
    headers = {"Authorization": api.headers["Authorization"], "Accept": "text/event-stream"}
    response = api.client.post(
        V3["chat-v3"].format(task), json={"messages": HELLO}, headers=headers
    )
    assert REQUEST_ID not in response.headers
    ids = {i for i, _, _ in events(response.text)}
    assert len(ids) == 1 and len(ids.pop()) == 32


class _FailsMidStream(FakeInference):
    async def generate(self, request: protocol.Generate) -> AsyncGenerator[protocol.Event, None]:
        yield protocol.Accepted(id=request.id, prompt_tokens=3)
        yield protocol.Token(id=request.id, index=0, text="partial")
        raise errors.InferenceUnavailable("The inference engine stopped; retry the request.")


def test_an_engine_failure_mid_stream_is_an_error_event(tmp_path: Path) -> None:
    api = Api(tmp_path, _FailsMidStream())
    task = api.task()
    response = api.post(V1["chat-v1"].format(task), {"messages": HELLO}, stream=True)
    found = events(response.text)
    assert [e for _, e, _ in found] == ["token", "error"]
    assert found[1][2]["status"]["code"] == "50300"
    broken = api.post(V1["chat-v1"].format(task), {"messages": HELLO})
    assert broken.status_code == 503 and broken.json()["status"]["code"] == "50300"


def test_a_client_that_leaves_mid_stream_cancels_its_request(api: Api) -> None:
    task = api.task()
    path = V3["chat-v3"].format(task)
    raw = json.dumps({"messages": [{"role": "user", "content": "!hang"}]}).encode()
    headers = {**api.headers, "Accept": "text/event-stream", "content-type": "application/json"}
    received = b""
    started, gone = asyncio.Event(), asyncio.Event()

    async def scenario(app: FastAPI) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal received
            received += message.get("body", b"")
            if message["type"] == "http.response.start":  # a hung reply sends no token
                started.set()

        scope = {
            "type": "http", "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }  # fmt: skip
        call = asyncio.create_task(app(scope, receive, send))
        await asyncio.wait_for(started.wait(), 10)
        assert api.engine.outstanding == 1
        gone.set()
        await asyncio.wait_for(call, 10)

    asyncio.run(scenario(api.app))
    assert api.engine.outstanding == 0
    generate, cancel = [r for r in api.engine.requests if r.op in ("generate", "cancel")][-2:]
    assert isinstance(cancel, protocol.Cancel) and cancel.id == generate.id  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "code", "param_word"),
    [
        ({"messages": HELLO, "temperature": 2}, "40001", "temperature"),
        ({"messages": HELLO, "topK": 129}, "40001", "topK"),
        ({"messages": []}, "40001", "messages"),
        ({"messages": HELLO, "maxTokens": 5, "maxCompletionTokens": 5}, "40001", "maxTokens"),
        ({"messages": HELLO, "maxTokens": 5000}, "40001", "maxTokens"),
        ({"messages": HELLO, "thinking": {"effort": "low"}}, "40009", "thinking"),
        ({"messages": HELLO, "tools": [{"type": "function"}]}, "40009", "tools"),
        ({"messages": HELLO, "seed": -1}, "40001", "seed"),
    ],
)
def test_bad_values_are_clovas_400(
    api: Api, body: dict[str, Any], code: str, param_word: str
) -> None:
    task = api.task()
    response = api.post(V1["chat-v1-testapp"].format(task), body)
    assert response.status_code == 400
    assert response.json()["status"]["code"] == code and "result" not in response.json()
    assert param_word in response.json()["status"]["message"]


def test_golden_refusals(api: Api) -> None:
    task = api.task()
    url = V3["chat-v3"].format(task)
    request = {"messages": HELLO, "maxCompletionTokens": 2000}
    long = api.exchange("chat-text-too-long", url, api.post(url, request), request)
    assert long["status"]["code"] == "40003"
    request = {"messages": HELLO, "temperature": "hot"}
    bad = api.exchange("chat-invalid-parameter", url, api.post(url, request), request)
    assert bad["status"]["code"] == "40001"
    waiting = api.task(succeed=False)
    url = V1["chat-v1-testapp"].format(waiting)
    request = {"messages": HELLO}
    refused = api.exchange("chat-task-not-succeeded", url, api.post(url, request), request)
    assert refused["status"]["code"] == "40400" and "not ready" in refused["status"]["message"]


def test_a_task_that_has_not_succeeded_is_refused_in_every_form(api: Api) -> None:
    task = api.task(succeed=False)
    for path in EVERY_PATH:
        for stream in (False, True):
            response = api.post(path.format(task), {"messages": HELLO}, stream=stream)
            assert response.status_code == 404, (path, stream)
            assert response.headers["content-type"].startswith("application/json")
            assert "not ready" in response.json()["status"]["message"]
    assert not any(isinstance(r, protocol.Generate) for r in api.engine.requests)


def test_another_workspaces_task_is_not_found_in_every_form(api: Api) -> None:
    theirs = api.task(headers=api.other)
    mine = api.task()
    for path in EVERY_PATH:
        for stream in (False, True):
            response = api.post(path.format(theirs), {"messages": HELLO}, stream=stream)
            assert response.status_code == 404, (path, stream)
            assert response.json()["status"]["code"] == "40400"
            assert response.headers[REQUEST_ID] == "clova-request-1"
    url = V1["chat-v1-testapp"].format(theirs)
    request = {"messages": HELLO}
    api.exchange("chat-other-workspace", url, api.post(url, request), request)
    compat = _sdk(api, api.headers)
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError):
            compat.chat.completions.create(model=theirs, messages=HELLO, stream=stream)  # type: ignore[call-overload]
    listed = [m.id for m in compat.models.list()]
    assert mine in listed and theirs not in listed
    assert not any(isinstance(r, protocol.Generate) for r in api.engine.requests)


def test_a_deleted_task_or_model_is_not_found(api: Api) -> None:
    task, gone = api.task(), api.task()
    api.world.service.served.delete("ws", task, name=task)
    assert api.client.delete(f"/tuning/v2/tasks/{gone}", headers=api.headers).status_code == 200
    for name in (task, gone):
        for path in (V1["chat-v1"], V3["chat-v3"]):
            response = api.post(path.format(name), {"messages": HELLO})
            assert response.status_code == 404 and response.json()["status"]["code"] == "40400"


def _classifier(api: Api, tmp_path: Path) -> str:
    ports = api.world.ports
    (tmp_path / "clf1/output").mkdir(parents=True)
    ports.jobs.add(
        job_record(
            ports,
            "clf1",
            status=JobStatus.SUCCEEDED,
            task_type=TaskType.CLASSIFICATION,
            method=Method.FULL,
            base_model="minilm-l6",
            output_path=str(tmp_path / "clf1/output"),
        )
    )
    return "clf1"


def test_a_classification_task_answers_with_its_label(api: Api, tmp_path: Path) -> None:
    task = _classifier(api, tmp_path)
    url = V3["chat-v3"].format(task)
    request = {"messages": [{"role": "user", "content": "a good film"}], "seed": 3}
    body = api.exchange("chat-classification", url, api.post(url, request), request)
    assert body["result"]["message"] == {"role": "assistant", "content": "positive"}
    assert body["result"]["usage"]["totalTokens"] == 0
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Classify) and sent.inputs == ("a good film",)
    v1 = api.post(V1["chat-v1"].format(task), {"messages": [{"role": "user", "content": "bad"}]})
    assert v1.json()["result"]["message"]["content"] == "negative"
    assert v1.json()["result"]["stopReason"] == "end_token"
    stream = api.post(url, request, stream=True)
    assert [(e, d["message"]["content"]) for _, e, d in events(stream.text)] == [
        ("token", "positive"),
        ("result", "positive"),
    ]


# -- the OpenAI-compatible form ----------------------------------------------------------
def _sdk(api: Api, headers: dict[str, str]) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1/openai",
        api_key=headers["Authorization"].removeprefix("Bearer "),
        http_client=api.client,
        max_retries=0,
        _strict_response_validation=True,
    )


def test_the_openai_compatible_api_serves_a_task_by_its_id(api: Api) -> None:
    task = api.task()
    url = "/v1/openai/chat/completions"
    request = {"model": task, "messages": HELLO, "temperature": 0, "seed": 5}
    response = api.post(url, request)
    assert response.headers[REQUEST_ID] == "clova-request-1"
    api.ids[response.json()["id"]] = "<completion-id>"
    body = api.exchange("openai-chat-completion", url, response, request)
    assert body["choices"][0]["message"]["content"] == "hello world" and body["model"] == task
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    response = api.post(url, streamed)
    first = json.loads(response.text.split("\n\n")[0].removeprefix("data: "))
    api.ids[first["id"]] = "<completion-id>"
    api.exchange("openai-chat-completion-stream", url, response, streamed)
    assert response.text.rstrip().endswith("data: [DONE]")
    sdk = _sdk(api, api.headers)
    completion = sdk.chat.completions.create(model=task, messages=HELLO)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "hello world"
    chunks = sdk.chat.completions.create(model=task, messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello world"
    base = sdk.chat.completions.create(model="tiny-chat", messages=HELLO)  # type: ignore[arg-type]
    assert base.choices[0].message.content == "hello world"


def test_the_openai_compatible_models_and_errors(api: Api, tmp_path: Path) -> None:
    task = api.task()
    response = api.client.get("/v1/openai/models", headers=api.headers)
    listed = golden.exchange(
        "clova/openai-list-models", "GET", "/v1/openai/models", None, response, api.ids
    )
    assert {"id": task, "object": "model"}.items() <= listed["data"][-1].items()
    url = "/v1/openai/chat/completions"
    request = {"model": "no-such-task", "messages": HELLO}
    missing = api.exchange("openai-unknown-model", url, api.post(url, request), request)
    assert missing["error"]["code"] == "model_not_found"
    classifier = _classifier(api, tmp_path)
    refused = api.post(url, {"model": classifier, "messages": HELLO})
    assert refused.status_code == 400 and "label" in refused.json()["error"]["message"]
