"""DashScope deployments, text generation and the OpenAI-compatible chat through the real
app (fake engine, scripted trainer): golden exchanges, the statuses and slots of a
deployment, streaming frames as the SDK parses them, a deployment's capacity enforced,
and another workspace's deployments answering not-found in every form."""

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
from tests.support.asgi import OpenCall
from tests.support.world import (
    EXAMPLES,
    ManualClock,
    World,
    make_ports,
    run_with_checkpoints,
)
from tuneyard import errors
from tuneyard.api.app import create_app
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.serving import protocol
from tuneyard.serving.fake import FakeInference
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()
GENERATION = "/api/v1/services/aigc/text-generation/generation"
COMPATIBLE = "/compatible-mode/v1/chat/completions"
HELLO = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]
SSE = {"X-DashScope-SSE": "enable", "Accept": "text/event-stream"}
SLOTS = 8
DEPLOYMENT_KEYS = [
    "deployed_model",
    "gmt_create",
    "gmt_modified",
    "status",
    "model_name",
    "base_model",
    "base_capacity",
    "capacity",
    "ready_capacity",
    "workspace_id",
    "charge_type",
    "creator",
    "modifier",
    "plan",
]


class Api:
    """The app over a fake engine with 8 deployable slots; keys for two workspaces."""

    def __init__(self, tmp_path: Path, engine: FakeInference | None = None) -> None:
        self.clock = ManualClock()
        ports = make_ports("memory", tmp_path, self.clock)
        self.world = World(ports, tmp_path, FakeExecutor(run_with_checkpoints))
        self.world.service.deployments.total_slots = SLOTS
        self.engine = engine or FakeInference()
        self.app = create_app(
            Settings(data_dir=tmp_path, inference_slots=SLOTS),
            self.world.service,
            inference=self.engine,
        )
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers = self.bearer("ws")
        self.ids: dict[str, str] = {}

    def bearer(self, workspace: str) -> dict[str, str]:
        key = self.world.service.credentials.create_key(workspace, account="1396993924585947")
        return {"Authorization": f"Bearer {key}"}

    def name(self, real: str, kind: str) -> str:
        return self.ids.setdefault(real, f"<{kind}-{len(self.ids) + 1}>")

    def tuned(self) -> str:
        """A succeeded DashScope job's `finetuned_output` (checkpoints at 2 and 4)."""
        self.clock.advance(1)
        uploaded = self.client.post(
            "/api/v1/files", headers=self.headers, files=[("files", ("train.jsonl", CHAT))]
        ).json()["data"]["uploaded_files"][0]["file_id"]
        body = {
            "model": "tiny-chat",
            "training_file_ids": [uploaded],
            "training_type": "efficient_sft",
        }
        created = self.client.post("/api/v1/fine-tunes", headers=self.headers, json=body).json()
        job_id = created["output"]["job_id"]
        self.name(job_id, "job-id")
        self.world.wait_status(job_id, JobStatus.SUCCEEDED)
        return str(created["output"]["finetuned_output"])

    def deploy(self, model: str, capacity: int = 2, **more: Any) -> Any:
        self.clock.advance(1)
        body = {"model_name": model, "capacity": capacity, **more}
        return self.client.post("/api/v1/deployments", headers=self.headers, json=body)

    def exchange(
        self, name: str, method: str, url: str, *, request: Any = None, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("headers", self.headers)
        if request is not None:
            kwargs.setdefault("json", request)
        response = self.client.request(method, url, **kwargs)
        body = golden.exchange(f"dashscope/{name}", method, url, request, response, self.ids)
        if isinstance(body, dict) and response.status_code < 400:
            assert "code" not in body, "a top-level code on success makes the v2 SDK raise"
        return body


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of each frame, read as the SDK reads them (`id:`, `event:`,
    `status:`, `data:` lines; anything else ignored)."""
    found, event = [], "message"
    for line in text.splitlines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            found.append((event, json.loads(line.removeprefix("data:"))))
    return found


# -- deployments ------------------------------------------------------------------------
def test_a_deployment_from_create_to_delete(api: Api) -> None:
    model = api.tuned()
    request = {"model_name": model, "capacity": 2, "suffix": "web", "plan": "lora"}
    api.clock.advance(1)
    made = api.exchange("deployment-create", "POST", "/api/v1/deployments", request=request)
    output = made["output"]
    assert list(output) == DEPLOYMENT_KEYS
    name = output["deployed_model"]
    assert name == f"{model}-web"
    assert (output["status"], output["capacity"], output["ready_capacity"]) == ("RUNNING", 2, 2)
    assert (output["model_name"], output["base_model"], output["plan"]) == (
        model, "tiny-chat", "lora"
    )  # fmt: skip
    assert output["creator"] == "1396993924585947"

    got = api.exchange("deployment-get", "GET", f"/api/v1/deployments/{name}")
    assert got["output"] == output
    listing = api.exchange("deployment-list", "GET", "/api/v1/deployments?page_no=1&page_size=10")
    assert listing["output"]["total"] == 1 and listing["output"]["deployments"] == [output]
    models = api.exchange(
        "deployment-models", "GET", "/api/v1/deployments/models?page_no=1&page_size=10"
    )
    names = [m["model_name"] for m in models["output"]["models"]]
    assert names[0] == "tiny-chat" and model in names

    scale = {"deployed_model": name, "capacity": 6}
    scaled = api.exchange(
        "deployment-scale", "PUT", f"/api/v1/deployments/{name}/scale", request=scale
    )
    assert scaled["output"]["capacity"] == 6
    too_many = {"deployed_model": name, "capacity": SLOTS + 1}
    refused = api.exchange(
        "deployment-scale-too-many", "PUT", f"/api/v1/deployments/{name}/scale", request=too_many
    )
    assert (
        refused["code"] == "InvalidParameter"
        and "8 of its 8 concurrent decoding slots" in refused["message"]
    )

    gone = api.exchange("deployment-delete", "DELETE", f"/api/v1/deployments/{name}")
    assert gone["output"]["status"] == "DELETING"
    missing = api.exchange("deployment-get-missing", "GET", f"/api/v1/deployments/{name}")
    assert missing["code"] == "NotFound" and missing["message"] == f"Model: {name} not found!"
    assert api.world.ports.deployments.reserved() == 0


def test_a_name_clash_is_409_and_capacity_past_the_machine_400(api: Api) -> None:
    model = api.tuned()
    assert api.deploy(model, capacity=5).status_code == 200
    clash = api.exchange(
        "deployment-clash",
        "POST",
        "/api/v1/deployments",
        request={"model_name": model, "capacity": 1},
    )
    assert clash["code"] == "Conflict" and "please specify a suffix" in clash["message"]
    over = api.exchange(
        "deployment-no-capacity",
        "POST",
        "/api/v1/deployments",
        request={"model_name": model, "capacity": 4, "suffix": "b"},
    )
    assert over["code"] == "InvalidParameter" and "3 of its 8" in over["message"]
    assert api.client.get(f"/api/v1/deployments/{model}-b", headers=api.headers).status_code == 404
    unknown = api.exchange(
        "deployment-unknown-model",
        "POST",
        "/api/v1/deployments",
        request={"model_name": "no-such-model", "capacity": 1},
    )
    assert unknown["code"] == "ModelNotFound"
    for body, param in (
        ({"model_name": model}, "capacity"),
        ({"model_name": model, "capacity": 0}, "capacity"),
        ({"model_name": model, "capacity": 1, "suffix": "far-too-long"}, "suffix"),
    ):
        response = api.client.post("/api/v1/deployments", headers=api.headers, json=body)
        assert response.status_code == 400 and param in response.json()["message"]


def test_a_deployed_model_cannot_be_deleted_until_undeployed(api: Api) -> None:
    model = api.tuned()
    job_id = next(real for real, p in api.ids.items() if p.startswith("<job-id"))
    api.deploy(model)
    refused = api.client.delete(f"/api/v1/fine-tunes/{job_id}", headers=api.headers)
    assert refused.status_code == 409 and "delete the deployment first" in refused.json()["message"]
    api.client.delete(f"/api/v1/deployments/{model}", headers=api.headers)
    assert api.client.delete(f"/api/v1/fine-tunes/{job_id}", headers=api.headers).status_code == 200


# -- generation -------------------------------------------------------------------------
def test_generation_from_a_deployed_model(api: Api) -> None:
    model = api.tuned()
    api.deploy(model)
    request = {
        "model": model,
        "input": {"messages": HELLO},
        "parameters": {"result_format": "message", "temperature": 0, "seed": 7, "top_k": 5},
    }
    body = api.exchange("generation", "POST", GENERATION, request=request)
    choice = body["output"]["choices"][0]
    assert choice == {
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": "hello world"},
    }
    assert body["usage"] == {"input_tokens": 12, "output_tokens": 2, "total_tokens": 14}
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate)
    assert (sent.sampling.temperature, sent.sampling.seed, sent.sampling.top_k) == (0.0, 7, 5)
    assert sent.target.adapter is not None and sent.target.adapter.endswith("output")


def test_text_format_prompt_and_stops(api: Api) -> None:
    request = {
        "model": "tiny-chat",
        "input": {"prompt": "one two three"},
        "parameters": {"stop": ["three"], "max_tokens": 5, "repetition_penalty": 1.1},
    }
    body = api.exchange("generation-text", "POST", GENERATION, request=request)
    assert body["output"] == {"text": "one two ", "finish_reason": "stop"}
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate)
    assert sent.messages == ({"role": "user", "content": "one two three"},)
    assert sent.sampling.repetition_penalty == 1.1 and sent.sampling.stop == ("three",)


def test_a_streamed_generation_incremental_and_whole(api: Api) -> None:
    model = api.tuned()
    api.deploy(model)
    request = {
        "model": model,
        "input": {"messages": [{"role": "user", "content": "one two three"}]},
        "parameters": {"result_format": "message", "incremental_output": True},
    }
    response = api.client.post(GENERATION, headers={**api.headers, **SSE}, json=request)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("id:1\nevent:result\n:HTTP_STATUS/200\ndata:")
    golden.check(
        "dashscope/generation-stream",
        {
            "request": {
                "method": "POST",
                "path": GENERATION,
                "body": golden.normalise(request, api.ids),
            },
            "response": {
                "status": 200,
                "frames": [golden.normalise(d, api.ids) for _, d in sse(response.text)],
            },
        },
    )
    frames = sse(response.text)
    pieces = [d["output"]["choices"][0]["message"]["content"] for _, d in frames]
    assert "".join(pieces) == "one two three" and len(pieces) == 4
    assert [d["output"]["choices"][0]["finish_reason"] for _, d in frames] == [
        "null", "null", "null", "stop"
    ]  # fmt: skip
    assert frames[-1][1]["usage"]["output_tokens"] == 3
    whole = dict(request, parameters={"stream": True, "incremental_output": False})
    texts = [
        d["output"]["text"]
        for _, d in sse(api.client.post(GENERATION, headers=api.headers, json=whole).text)
    ]
    assert texts == ["one", "one two", "one two three", "one two three"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "tiny-chat", "input": {}}, "prompt"),
        ({"model": "tiny-chat", "input": {"prompt": "x"}, "parameters": {"top_p": 0}}, "top_p"),
        (
            {"model": "tiny-chat", "input": {"prompt": "x"}, "parameters": {"max_tokens": "9"}},
            "max_tokens",
        ),
        ({"model": "tiny-chat", "input": {"prompt": "x"}, "parameters": {"tools": [{}]}}, "tools"),
        ({"model": "tiny-chat", "input": {"prompt": "x"}, "parameters": {"n": 2}}, "n"),
        ({"input": {"prompt": "x"}}, "model"),
    ],
)
def test_bad_generation_values_are_400(api: Api, body: dict[str, Any], param: str) -> None:
    response = api.client.post(GENERATION, headers=api.headers, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameter" and param in response.json()["message"]


def test_a_model_not_deployed_is_model_not_found(api: Api) -> None:
    model = api.tuned()
    request = {"model": model, "input": {"messages": HELLO}}
    body = api.exchange("generation-not-deployed", "POST", GENERATION, request=request)
    assert body["code"] == "ModelNotFound" and "not found" in body["message"]
    streamed = api.client.post(GENERATION, headers={**api.headers, **SSE}, json=request)
    assert streamed.status_code == 404 and streamed.json()["code"] == "ModelNotFound"


class _FailsMidStream(FakeInference):
    async def generate(self, request: protocol.Generate) -> AsyncGenerator[protocol.Event, None]:
        yield protocol.Accepted(id=request.id, prompt_tokens=3)
        yield protocol.Token(id=request.id, index=0, text="partial")
        raise errors.InferenceUnavailable("The inference engine stopped; retry the request.")


def test_an_engine_failure_mid_stream_is_an_error_frame(tmp_path: Path) -> None:
    api = Api(tmp_path, _FailsMidStream())
    request = {"model": "tiny-chat", "input": {"prompt": "a b"}}
    response = api.client.post(GENERATION, headers={**api.headers, **SSE}, json=request)
    events = sse(response.text)
    assert response.status_code == 200 and events[-1][0] == "error"
    assert events[0][1]["output"]["text"] == "partial"
    assert "status:503" in response.text and events[-1][1]["code"] == "ServiceUnavailable"
    assert events[-1][1]["request_id"] == events[0][1]["request_id"]


# -- capacity ---------------------------------------------------------------------------
def test_a_deployment_decodes_at_most_its_capacity(api: Api) -> None:
    """Capacity 1: while one stream decodes, the next request is Throttling (429), in
    both forms; when its client leaves, the slot is free again. A base model is not
    held to any deployment's capacity."""
    model = api.tuned()
    api.deploy(model, capacity=1)
    hang = {"model": model, "input": {"prompt": "!hang"}}
    headers = {**api.headers, "x-dashscope-sse": "enable"}
    pool = api.app.state.deployment_slots
    deployment = api.world.service.deployments.get("ws", model)

    async def scenario() -> None:
        leaving = OpenCall(api.app, "POST", GENERATION, json=hang, headers=headers)
        await asyncio.wait_for(leaving.responded.wait(), 10)
        assert pool.busy(deployment.id) == 1
        leaving.gone.set()
        await asyncio.wait_for(leaving.task, 10)

    async def while_busy() -> list[Any]:
        leaving = OpenCall(api.app, "POST", GENERATION, json=hang, headers=headers)
        await asyncio.wait_for(leaving.responded.wait(), 10)
        from httpx import ASGITransport, AsyncClient

        async with AsyncClient(transport=ASGITransport(app=api.app), base_url="http://t") as c:
            answers = [
                await c.post(
                    GENERATION,
                    headers=api.headers,
                    json={"model": model, "input": {"prompt": "hi"}},
                ),
                await c.post(
                    COMPATIBLE, headers=api.headers, json={"model": model, "messages": HELLO}
                ),
                await c.post(
                    GENERATION,
                    headers=api.headers,
                    json={"model": "tiny-chat", "input": {"prompt": "hi"}},
                ),
            ]
        leaving.gone.set()
        await asyncio.wait_for(leaving.task, 10)
        return answers

    asyncio.run(scenario())
    assert pool.busy(deployment.id) == 0
    throttled, compatible, base = asyncio.run(while_busy())
    assert throttled.status_code == 429 and throttled.json()["code"] == "Throttling"
    assert "capacity 1" in throttled.json()["message"]
    assert (
        compatible.status_code == 429
        and compatible.json()["error"]["code"] == "rate_limit_exceeded"
    )
    assert base.status_code == 200
    assert pool.busy(deployment.id) == 0
    again = api.client.post(
        GENERATION, headers=api.headers, json={"model": model, "input": {"prompt": "hi"}}
    )
    assert again.status_code == 200


# -- OpenAI-compatible ------------------------------------------------------------------
def test_compatible_mode_chat_over_the_same_deployments(api: Api) -> None:
    model = api.tuned()
    api.deploy(model)
    request = {"model": model, "messages": HELLO, "temperature": 0}
    response = api.client.post(COMPATIBLE, headers=api.headers, json=request)
    api.name(response.json()["id"], "completion-id")
    body = golden.exchange(
        "dashscope/compatible-chat", "POST", COMPATIBLE, request, response, api.ids
    )
    assert body["choices"][0]["message"]["content"] == "hello world"
    sdk = openai.OpenAI(
        base_url="http://testserver/compatible-mode/v1",
        api_key=api.headers["Authorization"].removeprefix("Bearer "),
        http_client=api.client,
        max_retries=0,
        _strict_response_validation=True,
    )
    chunks = list(sdk.chat.completions.create(model=model, messages=HELLO, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello world"
    with pytest.raises(openai.NotFoundError, match="not found"):
        sdk.chat.completions.create(model="no-such", messages=HELLO)  # type: ignore[arg-type]
    missing = golden.exchange(
        "dashscope/compatible-not-deployed",
        "POST",
        COMPATIBLE,
        {"model": "no-such", "messages": HELLO},
        api.client.post(
            COMPATIBLE, headers=api.headers, json={"model": "no-such", "messages": HELLO}
        ),
        api.ids,
    )
    assert missing["error"]["code"] == "model_not_found"


# -- isolation --------------------------------------------------------------------------
def test_another_workspaces_deployment_is_not_found_in_every_form(api: Api) -> None:
    model = api.tuned()
    api.deploy(model)
    other = api.bearer("other")
    path = f"/api/v1/deployments/{model}"
    assert api.client.get(path, headers=other).json()["code"] == "NotFound"
    assert api.client.put(f"{path}/scale", headers=other, json={"capacity": 1}).status_code == 404
    assert api.client.delete(path, headers=other).status_code == 404
    listing = api.client.get("/api/v1/deployments", headers=other).json()["output"]
    assert listing["total"] == 0 and listing["deployments"] == []
    models = api.client.get("/api/v1/deployments/models", headers=other).json()["output"]
    assert model not in [m["model_name"] for m in models["models"]]
    take = api.client.post(
        "/api/v1/deployments", headers=other, json={"model_name": model, "capacity": 1}
    )
    assert take.status_code == 404 and take.json()["code"] == "ModelNotFound"
    generation = {"model": model, "input": {"messages": HELLO}}
    for headers in (other, {**other, **SSE}):
        answer = api.client.post(GENERATION, headers=headers, json=generation)
        assert answer.status_code == 404 and answer.json()["code"] == "ModelNotFound"
    for stream in (False, True):
        chat = api.client.post(
            COMPATIBLE, headers=other, json={"model": model, "messages": HELLO, "stream": stream}
        )
        assert chat.status_code == 404 and chat.json()["error"]["code"] == "model_not_found"
    # and the owner still has it
    assert api.client.get(path, headers=api.headers).json()["output"]["status"] == "RUNNING"
