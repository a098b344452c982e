"""The Qianfan SDK's publish → deploy → chat → delete flow, as a user runs it: configured
only through QIANFAN_CONSOLE_API_BASE_URL, QIANFAN_BASE_URL, QIANFAN_IAM_BASE_URL,
QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY.

`python qianfan_serving_flow.py FILE_ID` tunes tiny-chat on the file, then
publishes the task, serves it, chats with it through `ChatCompletion(endpoint=…)` (plain
and streamed) and `ChatCompletion(version=2, model=…)`, and deletes it all; prints one
JSON object with what the SDK returned and the times measured.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import qianfan
from qianfan.errors import APIError
from qianfan.resources import FineTune, Model, Service
from qianfan.resources.console.utils import call_action

ASK = [{"role": "user", "content": "What is two plus three?"}]
QUICK = {"epoch": 1, "batchSize": 8, "maxSeqLen": 256, "learningRate": 0.0003}


def tune(file_id: str) -> str:
    """A finished LoRA task on tiny-chat."""
    job = FineTune.V2.create_job(name="greeter", model="tiny-chat", train_mode="SFT")
    task: str = FineTune.V2.create_task(
        job_id=job["result"]["jobId"],
        params_scale="LoRA",
        hyper_params=QUICK,
        dataset_config={"sourceType": "Platform", "versions": [{"versionId": file_id}],
                        "splitRatio": 10},
    )["result"]["taskId"]  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = FineTune.V2.task_detail(task_id=task)["result"]["runStatus"]
        if status in ("Done", "Failed", "Stopped"):
            assert status == "Done", status
            return task
        time.sleep(0.5)
    raise SystemExit(f"task {task} did not finish")


def streamed(chunks: Any, start: float) -> tuple[str, float, list[bool]]:
    """The text of a stream, seconds from `start` (before the request was sent: the SDK
    sends it when called) to its first non-empty piece, and its `is_end`s."""
    first = 0.0
    text: list[str] = []
    ends: list[bool] = []
    for chunk in chunks:
        piece = chunk["result"]
        if piece and not first:
            first = time.perf_counter() - start
        text.append(piece)
        ends.append(chunk["is_end"])
    return "".join(text), first, ends


def main(file_id: str) -> None:
    out: dict[str, Any] = {}
    started = time.perf_counter()
    task = tune(file_id)
    out["train_s"] = time.perf_counter() - started

    flow = time.perf_counter()
    model_set = Model.V2.create_custom_model_set(model_set_name="greeter", model_type="Text2Text")
    set_id = model_set["result"]
    version = Model.V2.create_custom_model(
        model_set_id=set_id, source_type="Train", train_meta={"taskId": task}
    )["result"]["modelId"]
    out["model_set"] = Model.V2.describe_model_set(model_set_id=set_id)["result"]
    out["model"] = Model.V2.describe_model(model_id=version)["result"]
    out["model_sets"] = Model.V2.describe_custom_model_sets(max_keys=10)["result"]
    service = Service.V2.create_service(
        model_set_id=set_id, model_id=version, name="greeter", url_suffix="greeter-v1",
        resource_config={"type": "GPU-I-2", "replicasCount": 1, "qps": 1},
        billing={"paymentTiming": "Postpaid"},
    )["result"]["serviceId"]  # fmt: skip
    out["service"] = Service.V2.service_detail(service_id=service)["result"]
    out["services"] = Service.V2.service_list(max_keys=10)["result"]

    chat = qianfan.ChatCompletion()
    cold = time.perf_counter()
    plain = chat.do(endpoint="greeter-v1", messages=ASK, max_output_tokens=16, temperature=0.01)
    out["plain"] = plain.body
    out["first_chat_s"] = time.perf_counter() - cold  # the engine starts and loads the model
    sent = time.perf_counter()
    text, first, ends = streamed(
        chat.do(endpoint="greeter-v1", messages=ASK, max_output_tokens=16, stream=True), sent
    )
    out["stream"] = {"text": text, "first_token_s": first, "ends": ends}
    v2 = qianfan.ChatCompletion(version=2, model="greeter-v1")  # mints an IAM bearer token
    reply = v2.do(messages=ASK, max_completion_tokens=16)
    out["v2"] = reply.body
    start, v2_first, pieces = time.perf_counter(), 0.0, []
    for chunk in v2.do(messages=ASK, max_completion_tokens=16, stream=True):
        delta = chunk["choices"][0]["delta"].get("content", "") if chunk["choices"] else ""
        if delta and not v2_first:
            v2_first = time.perf_counter() - start
        pieces.append(delta)
    out["v2_stream"] = {"text": "".join(pieces), "first_token_s": v2_first}

    out["delete_service"] = call_action("/v2/service", "DeleteService", {"serviceId": service})[
        "result"
    ]
    try:
        chat.do(endpoint="greeter-v1", messages=ASK, retry_count=1)
        out["after_delete"] = "answered"
    except APIError as exc:
        out["after_delete"] = exc.error_code
    out["delete_model"] = Model.V2.delete_model(model_id=version)["result"]
    out["delete_model_set"] = Model.V2.delete_model_set(model_set_id=set_id)["result"]
    out["flow_s"] = time.perf_counter() - flow
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
