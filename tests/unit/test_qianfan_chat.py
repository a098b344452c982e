"""Qianfan chat and serving mapping, pure: the v1 request checks and worker request, the v1
reply and stream chunks, v2's extras, the two error tables, and service ids."""

from __future__ import annotations

import datetime as dt

import pytest

from tuneyard import errors
from tuneyard.api.dialects.qianfan import chat, chat_errors, chat_wire, serving_translate
from tuneyard.api.errors import Code
from tuneyard.core.deployments import Deployment, DeploymentStatus
from tuneyard.serving import protocol

TARGET = protocol.Target(base="/m")


def _request(**fields: object) -> chat_wire.ChatRequest:
    return chat_wire.parse({"messages": [{"role": "user", "content": "hi"}], **fields})


def test_a_v1_request_becomes_a_worker_request() -> None:
    request = _request(
        system="be brief", temperature=0.5, top_k=5, penalty_score=1.3, max_output_tokens=9,
        stop=["\n"], seed=4, extra_parameters={"request_source": "sdk"},
    )  # fmt: skip
    chat.check(request)
    made = chat.to_generate(request, request_id="r", target=TARGET)
    assert made.messages == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    )
    s = made.sampling
    assert (s.temperature, s.top_k, s.repetition_penalty, s.max_tokens, s.stop, s.seed) == (
        0.5, 5, 1.3, 9, ("\n",), 4,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages.0.role"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            "messages",
        ),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"response_format": "json_object"}, "response_format"),
        ({"stop": [""]}, "stop"),
    ],
)
def test_what_is_not_served_is_refused_by_name(fields: dict[str, object], param: str) -> None:
    with pytest.raises(errors.InvalidRequest) as refused:
        chat.check(_request(**fields))
    assert refused.value.param == param


@pytest.mark.parametrize(
    "fields",
    [{"temperature": 0}, {"penalty_score": 2.5}, {"stream": "yes"}, {"enable_memory": True}],
)
def test_the_wire_refuses_bad_values_and_unknown_keys(fields: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidRequest):
        _request(**fields)


def test_the_v1_reply_and_its_stream() -> None:
    events: list[protocol.Event] = [
        protocol.Accepted(id="r", prompt_tokens=5),
        protocol.Token(id="r", index=0, text="hel"),
        protocol.Token(id="r", index=0, text="lo"),
        protocol.Finished(id="r", index=0, reason="length", completion_tokens=2),
        protocol.Done(id="r", prompt_tokens=5, completion_tokens=2),
    ]
    whole = chat.Reply(id="as-1", created=7)
    for event in events:
        whole.add(event)
    body = whole.completion()
    assert (body["result"], body["finish_reason"], body["is_truncated"], body["is_end"]) == (
        "hello", "length", True, True,
    )  # fmt: skip
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    streamed = chat.Reply(id="as-1", created=7)
    chunks = [c for e in events for c in streamed.chunks(e)]
    assert [c["result"] for c in chunks] == ["hel", "lo", ""]
    assert [c["is_end"] for c in chunks] == [False, False, True]
    assert [c["sentence_id"] for c in chunks] == [0, 1, 2]
    assert chunks[-1]["finish_reason"] == "length" and chunks[0]["finish_reason"] == ""


def test_v2_takes_penalty_score_beside_openais_fields() -> None:
    body = {"model": "svc", "messages": [{"role": "user", "content": "hi"}], "penalty_score": 1.4}
    parsed = chat.v2_request(body)
    made = chat.v2_generate(parsed, request_id="r", target=TARGET)
    assert made.sampling.repetition_penalty == 1.4 and parsed.openai.model == "svc"
    with pytest.raises(errors.InvalidRequest):
        chat.v2_request({**body, "penalty_score": 3})
    with pytest.raises(errors.UnsupportedFeature):
        chat.v2_request({**body, "web_search": {"enable": True}})


def test_both_error_tables_have_a_row_for_every_code() -> None:
    assert set(chat_errors.V1) == set(Code) and set(chat_errors.V2) == set(Code)
    assert chat_errors.v1_body(Code.SERVED_MODEL_NOT_FOUND, "", "r")["error_code"] == 336005
    status, body = chat_errors.v2_body(Code.SERVED_MODEL_NOT_FOUND, "m", "r")
    assert status == 401 and body["error"] == {
        "code": "invalid_model",
        "message": "m",
        "type": "invalid_request_error",
    }


def test_a_service_id_is_its_deployment_id_under_the_vendors_prefix() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    deployment = Deployment(
        id="dep-0123456789abcdef", workspace_id="ws", name="svc", model="amv-x",
        base_model="tiny-chat", capacity=1, status=DeploymentStatus.RUNNING, dialect="qianfan",
        created_at=now, updated_at=now,
    )  # fmt: skip
    service = serving_translate.service_id(deployment)
    assert service == "svco-0123456789abcdef"
    assert serving_translate.deployment_id(service) == deployment.id
    assert serving_translate.deployment_id("svco-") is None
    assert serving_translate.deployment_id("dep-0123") is None
    shown = serving_translate.service(deployment, "http://h")
    assert shown["url"] == "http://h/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/svc"
    assert shown["runStatus"] == "Serving" and shown["resourceConfig"] == {"replicasCount": 1}
