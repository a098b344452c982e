"""Qianfan publish → serve → chat through the real app with the fake engine: golden
exchanges for every model and service Action and both chat forms (plain and streamed),
requests signed as the SDK signs them, the IAM bearer token v2 takes, the older service list
the SDK reads first, and another workspace's model set, version and service answering
not-found in every form, streaming included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import golden
from tests.support.asgi import data_frames
from tests.support.world import EXAMPLES, ManualClock, World, make_ports, run_with_checkpoints
from tuneyard.api.app import create_app
from tuneyard.api.dialects.qianfan import model_routes, service_routes, signature
from tuneyard.core.states import JobStatus
from tuneyard.core.submission import UploadSource
from tuneyard.datasets import validator
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.serving import protocol
from tuneyard.serving.fake import FakeInference
from tuneyard.settings import Settings

SFT = (EXAMPLES / "qianfan-sft.jsonl").read_bytes()
CHAT = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/"
HELLO = [{"role": "user", "content": "hello world"}]


class Api:
    """The app over the fake engine; AK/SK pairs and bearer keys for two workspaces."""

    def __init__(self, tmp_path: Path, backend: str = "memory") -> None:
        self.clock = ManualClock()
        ports = make_ports(backend, tmp_path, self.clock)
        self.world = World(ports, tmp_path, FakeExecutor(run_with_checkpoints))
        self.engine = FakeInference()
        self.app = create_app(
            Settings(data_dir=tmp_path), self.world.service, inference=self.engine
        )
        self.client = TestClient(self.app, raise_server_exceptions=False)
        credentials = self.world.service.credentials
        self.keys = {ws: credentials.create_access_key(ws) for ws in ("qf", "other")}
        self.bearer = {ws: credentials.create_key(ws) for ws in ("qf", "other")}
        self.ids: dict[str, str] = {}

    def name(self, real: str, kind: str) -> str:
        return self.ids.setdefault(real, f"<{kind}-{len(self.ids) + 1}>")

    def post(
        self, path: str, body: Any, *, query: str = "", ws: str = "qf", method: str = "POST"
    ) -> Any:
        """A request signed with bce-auth-v1 as the SDK signs (every header it sends)."""
        ak, sk = self.keys[ws]
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "host": "testserver",
            "content-type": "application/json",
            "x-bce-date": stamp,
            "request-source": "qianfan_py_sdk_v0.4.12.3",
        }
        order = ["request-source", "host", "x-bce-date", "content-type"]
        pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
        auth = signature.Authorization(ak, stamp, 300, tuple(order), "")
        canonical = signature.canonical_request(method, path, pairs, headers, order)  # type: ignore[arg-type]
        signed = signature.sign(sk, auth, canonical)
        headers["authorization"] = f"bce-auth-v1/{ak}/{stamp}/300/{';'.join(order)}/{signed}"
        url = f"{path}?{query}" if query else path
        content = None if method == "GET" else json.dumps(body)
        return self.client.request(method, url, content=content, headers=headers)

    def action(self, resource: str, action: str, body: dict[str, Any], ws: str = "qf") -> Any:
        return self.post(f"/v2/{resource}", body, query=f"Action={action}", ws=ws)

    def ok(self, resource: str, action: str, body: dict[str, Any], ws: str = "qf") -> Any:
        response = self.action(resource, action, body, ws)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def exchange(
        self, name: str, resource: str, action: str, body: dict[str, Any], response: Any = None
    ) -> Any:
        """Check an Action's exchange (made now, or `response` already made) with its
        golden file."""
        response = response or self.action(resource, action, body)
        assert response.json()["requestId"] == response.headers["x-bce-request-id"]
        url = f"/v2/{resource}?Action={action}"
        return golden.exchange(f"qianfan/{name}", "POST", url, body, response, self.ids)

    def chat_exchange(self, name: str, path: str, body: dict[str, Any], response: Any) -> Any:
        request_id = response.headers["x-baidu-request-id"]
        self.name(request_id, "request-id")
        self.name("as-" + request_id[:10], "chat-id")
        return golden.exchange(f"qianfan/{name}", "POST", path, body, response, self.ids)

    def v2(self, body: dict[str, Any], ws: str = "qf") -> Any:
        headers = {"Authorization": f"Bearer {self.bearer[ws]}"}
        return self.client.post("/v2/chat/completions", json=body, headers=headers)

    # -- a tuned task, published and served ---------------------------------------------
    def task(self, ws: str = "qf") -> str:
        stored, problem = self.world.service.uploads.upload_dataset(
            ws, "train.jsonl", [SFT], formats=validator.FORMATS
        )
        assert stored is not None, problem
        self.clock.advance(1)
        job = self.ok(
            "finetuning",
            "CreateFineTuningJob",
            {"name": "greeter", "model": "tiny-chat", "trainMode": "SFT"},
            ws,
        )["jobId"]
        body = {
            "jobId": job,
            "parameterScale": "LoRA",
            "hyperParameterConfig": {"epoch": 1},
            "datasetConfig": {"versions": [{"versionId": stored.id}], "splitRatio": 10},
        }
        task: str = self.ok("finetuning", "CreateFineTuningTask", body, ws)["taskId"]
        self.world.wait_status(task, JobStatus.SUCCEEDED)
        self.name(task, "task-id")
        self.name(job, "job-id")
        return task

    def published(self, ws: str = "qf", name: str = "greeter") -> tuple[str, str]:
        task = self.task(ws)
        self.clock.advance(1)
        model_set = self.ok(
            "model", "CreateCustomModelSet", {"modelSetName": name, "modelType": "Text2Text"}, ws
        )
        self.clock.advance(1)
        body = {"modelSetId": model_set, "sourceType": "Train", "trainMeta": {"taskId": task}}
        version = self.ok("model", "CreateCustomModel", body, ws)["modelId"]
        return model_set, version

    def task_of(self, version: str, ws: str = "qf") -> str:
        task: str = self.ok("model", "DescribeModel", {"modelId": version}, ws)["trainMeta"][
            "taskId"
        ]
        return task

    def served(self, ws: str = "qf", suffix: str = "greeter-v1") -> str:
        model_set, version = self.published(ws)
        self.clock.advance(1)
        body = {
            "modelSetId": model_set,
            "modelId": version,
            "name": "greeter",
            "urlSuffix": suffix,
            "resourceConfig": {"type": "GPU-I-2", "replicasCount": 1, "qps": 1},
            "billing": {"paymentTiming": "Postpaid"},
        }
        service: str = self.ok("service", "CreateService", body, ws)["serviceId"]
        return service


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_publish_a_task_as_a_model_set_version(api: Api) -> None:
    task = api.task()
    api.clock.advance(1)
    create_set = {"modelSetName": "greeter", "modelType": "Text2Text", "labels": ["demo"]}
    made = api.action("model", "CreateCustomModelSet", create_set)
    model_set = made.json()["result"]
    api.name(model_set, "model-set-id")
    api.exchange("create-model-set", "model", "CreateCustomModelSet", create_set, made)
    api.clock.advance(1)
    body = {"modelSetId": model_set, "sourceType": "Train", "trainMeta": {"taskId": task}}
    made = api.action("model", "CreateCustomModel", body)
    first = made.json()["result"]["modelId"]
    api.name(first, "model-id")
    version = api.exchange("create-model", "model", "CreateCustomModel", body, made)
    assert version["result"] == {"modelSetId": model_set, "modelId": first}
    api.clock.advance(1)
    step = {
        "modelSetId": model_set,
        "sourceType": "Train",
        "trainMeta": {"taskId": task, "step": 2},
    }
    second = api.ok("model", "CreateCustomModel", step)["modelId"]
    api.name(second, "model-id")
    detail = api.exchange(
        "describe-model-set", "model", "DescribeModelSet", {"modelSetId": model_set}
    )
    assert detail["result"]["modelIds"] == [first, second]
    by_name = api.ok("model", "DescribeModelSet", {"modelSetName": "greeter"})
    assert by_name["modelSetId"] == model_set
    listed = api.exchange("list-model-sets", "model", "DescribeCustomModelSets", {"maxKeys": 10})
    assert [s["modelSetName"] for s in listed["result"]["modelSetList"]] == ["greeter"]
    one = api.exchange("describe-model", "model", "DescribeModel", {"modelId": second})
    assert one["result"]["version"] == "2"
    assert one["result"]["trainMeta"] == {"taskId": task, "checkpointStep": 2}


def test_the_publishing_refusals_name_their_field(api: Api) -> None:
    task = api.task()
    model_set = api.ok(
        "model", "CreateCustomModelSet", {"modelSetName": "a", "modelType": "Text2Text"}
    )
    api.name(model_set, "model-set-id")
    taken = api.exchange(
        "model-set-name-taken",
        "model",
        "CreateCustomModelSet",
        {"modelSetName": "a", "modelType": "Text2Text"},
    )
    assert taken["code"] == "Conflict"
    image = api.action(
        "model", "CreateCustomModelSet", {"modelSetName": "b", "modelType": "Text2Image"}
    )
    assert image.status_code == 400 and "modelType" in image.json()["message"]
    bad_step = {
        "modelSetId": model_set,
        "sourceType": "Train",
        "trainMeta": {"taskId": task, "checkpointStep": 3},
    }
    missing = api.exchange("create-model-bad-step", "model", "CreateCustomModel", bad_step)
    assert "step 3" in missing["message"]
    imported = {"modelSetId": model_set, "sourceType": "Import", "importMeta": {}}
    assert api.action("model", "CreateCustomModel", imported).status_code == 400
    unknown = api.exchange(
        "model-set-not-found", "model", "DescribeModelSet", {"modelSetId": "am-000000000000"}
    )
    assert unknown["code"] == "ResourceNotFound"


def test_a_running_task_is_not_published(tmp_path: Path) -> None:
    api = Api(tmp_path)
    data = (EXAMPLES / "clova-generation.csv").read_bytes()
    job = api.world.service.submission.submit(
        api.world.spec("qf"), UploadSource(filename="train.csv", chunks=[data])
    )
    model_set = api.ok(
        "model", "CreateCustomModelSet", {"modelSetName": "a", "modelType": "Text2Text"}
    )
    body = {"modelSetId": model_set, "sourceType": "Train", "trainMeta": {"taskId": job.id}}
    response = api.action("model", "CreateCustomModel", body)
    assert response.status_code == 400 and "only a succeeded task" in response.json()["message"]


def test_serve_a_version_describe_it_list_it_and_delete_it(api: Api) -> None:
    model_set, version = api.published()
    api.name(model_set, "model-set-id")
    api.name(version, "model-id")
    api.clock.advance(1)
    body = {
        "modelSetId": model_set,
        "modelId": version,
        "name": "greeter",
        "urlSuffix": "greeter-v1",
        "description": "says hello",
        "resourceConfig": {"type": "GPU-I-2", "replicasCount": 2, "qps": 1},
        "billing": {"paymentTiming": "Postpaid"},
    }
    created = api.action("service", "CreateService", body)
    service = created.json()["result"]["serviceId"]
    api.name(service, "service-id")
    api.exchange("create-service", "service", "CreateService", body, created)
    taken = api.exchange("service-suffix-taken", "service", "CreateService", body)
    assert taken["code"] == "Conflict"
    described = api.exchange(
        "describe-service", "service", "DescribeService", {"serviceId": service}
    )["result"]
    assert described["serviceId"] == service and described["runStatus"] == "Serving"
    assert described["url"] == f"http://testserver{CHAT}greeter-v1"
    assert described["resourceConfig"]["replicasCount"] == 2
    listed = api.exchange("list-services", "service", "DescribeServices", {"maxKeys": 10})
    assert [s["endpoint"] for s in listed["result"]["serviceList"]] == ["greeter-v1"]
    legacy = api.post("/wenxinworkshop/service/list", {"apiTypefilter": ["chat"]})
    api.name(legacy.json()["log_id"], "log-id")
    listed_old = golden.exchange(
        "qianfan/legacy-service-list", "POST", "/wenxinworkshop/service/list",
        {"apiTypefilter": ["chat"]}, legacy, api.ids,
    )  # fmt: skip
    assert [s["url"] for s in listed_old["result"]["custom"]] == [described["url"]]
    assert listed_old["result"]["common"] == []
    filtered = api.ok("service", "DescribeServices", {"runStatus": ["Failed"]})
    assert filtered["serviceList"] == []
    api.clock.advance(1)
    step = {
        "modelSetId": model_set,
        "sourceType": "Train",
        "trainMeta": {"taskId": api.task_of(version), "checkpointStep": 2},
    }
    at_two = api.ok("model", "CreateCustomModel", step)["modelId"]
    api.name(at_two, "model-id")
    modify = {"serviceId": service, "modelSetId": model_set, "modelId": at_two}
    api.exchange("modify-service", "service", "ModifyService", modify)
    now = api.ok("service", "DescribeService", {"serviceId": service})
    assert (now["modelId"], now["runStatus"], now["endpoint"]) == (at_two, "Serving", "greeter-v1")
    chat = api.post(CHAT + "greeter-v1", {"messages": HELLO})
    sent = api.engine.requests[-1]
    assert chat.json()["result"] == "hello world"
    assert isinstance(sent, protocol.Generate) and sent.target.adapter is not None
    assert sent.target.adapter.endswith("step-00000002")  # the checkpoint's weights now
    api.ok("service", "ModifyService", {**modify, "modelId": version})
    deployed = api.action("model", "DeleteModel", {"modelId": version})
    assert deployed.status_code == 409  # a served version stays until its service goes
    real = service
    api.exchange("delete-service", "service", "DeleteService", {"serviceId": real})
    gone = api.exchange("service-not-found", "service", "DescribeService", {"serviceId": real})
    assert gone["code"] == "ResourceNotFound"
    api.exchange("delete-model", "model", "DeleteModel", {"modelId": version})
    api.exchange("delete-model-set", "model", "DeleteModelSet", {"modelSetId": model_set})


def test_chat_with_a_service_as_the_sdk_calls_it(api: Api) -> None:
    api.served()
    request = {"messages": HELLO, "temperature": 0.5, "penalty_score": 1.2, "max_output_tokens": 16}
    response = api.post(CHAT + "greeter-v1", request)
    body = api.chat_exchange("chat", CHAT + "greeter-v1", request, response)
    assert body["result"] == "hello world" and body["is_end"] is True
    assert body["usage"] == {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate)
    assert sent.sampling.repetition_penalty == 1.2 and sent.sampling.max_tokens == 16
    assert sent.target.adapter is not None  # the task's LoRA output on its base


def test_a_streamed_chat_ends_with_is_end(api: Api) -> None:
    api.served()
    request = {"messages": HELLO, "stream": True, "system": "be brief"}
    response = api.post(CHAT + "greeter-v1", request)
    assert response.headers["content-type"].startswith("text/event-stream")
    api.chat_exchange("chat-stream", CHAT + "greeter-v1", request, response)
    chunks = data_frames(response.text)
    assert "".join(c["result"] for c in chunks) == "hello world"
    assert [c["is_end"] for c in chunks] == [False, False, True]
    assert chunks[-1]["finish_reason"] == "normal" and "[DONE]" not in chunks


def test_v2_chat_completions_with_the_service_as_model(api: Api) -> None:
    api.served()
    request = {"model": "greeter-v1", "messages": HELLO, "penalty_score": 1.5}
    response = api.v2(request)
    body = api.chat_exchange("chat-v2", "/v2/chat/completions", request, response)
    assert body["choices"][0]["message"]["content"] == "hello world"
    sent = api.engine.requests[-1]
    assert isinstance(sent, protocol.Generate) and sent.sampling.repetition_penalty == 1.5
    streamed = {**request, "stream": True}
    response = api.v2(streamed)
    api.chat_exchange("chat-v2-stream", "/v2/chat/completions", streamed, response)
    chunks = data_frames(response.text)
    assert chunks[-1] == "[DONE]"
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1] if c["choices"])
        == "hello world"
    )
    signed = api.post("/v2/chat/completions", request)  # bce-auth-v1 signs v2 too
    assert signed.status_code == 200


def test_chat_refusals_are_the_vendors_errors(api: Api) -> None:
    api.served()
    unknown = api.post(CHAT + "nothing-here", {"messages": HELLO})
    api.chat_exchange("chat-unknown-service", CHAT + "nothing-here", {"messages": HELLO}, unknown)
    assert unknown.status_code == 200 and unknown.json()["error_code"] == 336005
    even = {"messages": [*HELLO, {"role": "assistant", "content": "hi"}]}
    response = api.post(CHAT + "greeter-v1", even)
    assert response.json()["error_code"] == 336003 and "odd" in response.json()["error_msg"]
    tools = api.post(CHAT + "greeter-v1", {"messages": HELLO, "functions": [{"name": "f"}]})
    assert tools.json()["error_code"] == 336003 and "functions" in tools.json()["error_msg"]
    unsigned = api.client.post(CHAT + "greeter-v1", json={"messages": HELLO})
    assert unsigned.status_code == 200 and unsigned.json()["error_code"] == 14
    v2 = api.v2({"model": "nothing-here", "messages": HELLO})
    api.chat_exchange(
        "chat-v2-unknown-model",
        "/v2/chat/completions",
        {"model": "nothing-here", "messages": HELLO},
        v2,
    )
    assert v2.status_code == 401 and v2.json()["error"]["code"] == "invalid_model"
    for stream in (False, True):
        failed = api.post(
            CHAT + "greeter-v1",
            {"messages": [{"role": "user", "content": "!fail"}], "stream": stream},
        )
        assert failed.status_code == 200 and failed.json()["error_code"] == 336000
    long = api.post(CHAT + "greeter-v1", {"messages": HELLO, "max_output_tokens": 5000})
    assert long.json()["error_code"] == 336103


def test_another_workspace_sees_nothing_in_any_form(api: Api) -> None:
    model_set, version = api.published("qf")
    service = api.ok(
        "service",
        "CreateService",
        {"modelSetId": model_set, "modelId": version, "name": "mine", "urlSuffix": "mine"},
    )["serviceId"]

    def not_found(resource: str, action: str, body: dict[str, Any]) -> None:
        theirs = api.action(resource, action, body, ws="other")
        assert theirs.status_code == 404, (action, theirs.text)
        assert theirs.json()["code"] == "ResourceNotFound"

    not_found("model", "DescribeModelSet", {"modelSetId": model_set})
    not_found("model", "DeleteModelSet", {"modelSetId": model_set})
    not_found("model", "DescribeModel", {"modelId": version})
    not_found("model", "DeleteModel", {"modelId": version})
    not_found("service", "DescribeService", {"serviceId": service})
    not_found("service", "DeleteService", {"serviceId": service})
    modify = {"serviceId": service, "modelSetId": model_set, "modelId": version}
    not_found("service", "ModifyService", modify)
    not_found(
        "service",
        "CreateService",
        {"modelSetId": model_set, "modelId": version, "name": "xx", "urlSuffix": "xx"},
    )
    publish = {
        "modelSetId": model_set,
        "sourceType": "Train",
        "trainMeta": {"taskId": "task-000000000000"},
    }
    not_found("model", "CreateCustomModel", publish)
    assert api.ok("model", "DescribeCustomModelSets", {}, ws="other")["modelSetList"] == []
    assert api.ok("service", "DescribeServices", {}, ws="other")["serviceList"] == []
    legacy = api.post("/wenxinworkshop/service/list", {}, ws="other")
    assert legacy.json()["result"] == {"common": [], "custom": []}
    marker = api.action("service", "DescribeServices", {"marker": service}, ws="other")
    assert marker.status_code == 400 and "marker" in marker.json()["message"]
    for stream in (False, True):
        v1 = api.post(CHAT + "mine", {"messages": HELLO, "stream": stream}, ws="other")
        assert v1.status_code == 200 and v1.json()["error_code"] == 336005, v1.text
        v2 = api.v2({"model": "mine", "messages": HELLO, "stream": stream}, ws="other")
        assert v2.status_code == 401 and v2.json()["error"]["code"] == "invalid_model"
    mine = api.post(CHAT + "mine", {"messages": HELLO})
    assert mine.json()["result"] == "hello world"  # still there for its owner


def test_every_model_and_service_action_has_a_golden_file() -> None:
    paths = set()
    for path in sorted((golden.GOLDEN / "qianfan").glob("*.json")):
        request = json.loads(path.read_text(encoding="utf-8"))["request"]
        paths.add(request["path"])
    missing = [
        f"{prefix}?Action={action}"
        for prefix, actions in (
            (model_routes.PREFIX, model_routes.ACTIONS),
            (service_routes.PREFIX, service_routes.ACTIONS),
        )
        for action in actions
        if f"{prefix}?Action={action}" not in paths
    ]
    assert missing == []


def test_v2_takes_the_iam_bearer_token_the_sdk_mints_from_its_pair(api: Api) -> None:
    api.served()
    path, query = "/v1/BCE-BEARER/token", "expireInSeconds=100"
    response = api.post(path, None, query=query, method="GET")
    minted = response.json()
    api.name(minted["token"], "bearer-token")
    golden.exchange("qianfan/iam-bearer-token", "GET", f"{path}?{query}", None, response, api.ids)
    assert minted["token"].startswith("bce-v3/") and minted["expireTime"].endswith("Z")
    headers = {"Authorization": f"Bearer {minted['token']}"}
    body = {"model": "greeter-v1", "messages": HELLO}
    chat = api.client.post("/v2/chat/completions", json=body, headers=headers)
    assert chat.status_code == 200, chat.text
    flipped = "1" if minted["token"].endswith("0") else "0"  # never the token itself
    forged = {"Authorization": f"Bearer {minted['token'][:-1]}{flipped}"}
    refused = api.client.post("/v2/chat/completions", json=body, headers=forged)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_iam_token"
    api.clock.advance(101)
    expired = api.client.post("/v2/chat/completions", json=body, headers=headers)
    assert expired.status_code == 401
    theirs = api.post(path, None, query=query, method="GET", ws="other").json()["token"]
    other = {"Authorization": f"Bearer {theirs}"}
    hidden = api.client.post("/v2/chat/completions", json=body, headers=other)
    assert hidden.status_code == 401 and hidden.json()["error"]["code"] == "invalid_model"
    too_long = api.post(path, None, query="expireInSeconds=99999999", method="GET")
    assert too_long.status_code == 400 and too_long.json()["code"] == "InappropriateJSON"
