"""CLOVA's way to use a tuned task, against a real server and inference worker: create a
tiny-chat task through `/tuning/v2/tasks`, wait for SUCCEEDED, then chat with it over
httpx as CLOVA's clients do (v1 `/testapp/v1/…` and v3 `/v3/…`, plain and with
`Accept: text/event-stream`), and with the real `openai` SDK pointed at CLOVA's
OpenAI-compatible `/v1/openai` (CLOVA ships no Python SDK of its own for this). Another
workspace's key gets 404 in every form. Prints the flow's wall time and each path's
first-token latency (run with -s to see them)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.server import Server, cli
from tests.support.world import EXAMPLES

pytestmark = pytest.mark.integration

ASK = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is two plus three?"},
]
REQUEST_ID = "X-NCP-CLOVASTUDIO-REQUEST-ID"
_OPENAI_FIRST = "openai SDK stream first token (warm)"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path, "--inference-idle-seconds", "120")
    try:
        yield running
    finally:
        running.close()


def _stream(client: httpx.Client, url: str, body: Any, key: str) -> tuple[list[Any], float]:
    """(events as (event, data), seconds to the first `token` event) of a CLOVA stream."""
    headers = {
        "Authorization": f"Bearer {key}",
        REQUEST_ID: "acceptance-1",
        "Accept": "text/event-stream",
    }
    found: list[Any] = []
    first = 0.0
    started = time.perf_counter()
    with client.stream("POST", url, json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers[REQUEST_ID] == "acceptance-1"
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line:
                name, _, value = line.partition(":")
                fields[name] = value
                continue
            if fields:
                if fields["event"] == "token" and not first:
                    first = time.perf_counter() - started
                assert fields["id"] == "acceptance-1"
                found.append((fields["event"], json.loads(fields["data"])))
                fields = {}
    return found, first


def test_chat_with_a_freshly_tuned_clova_task(server: Server, tmp_path: Path) -> None:
    flow = time.perf_counter()
    key = cli("keys", "create", data_dir=tmp_path).strip()
    other = cli("keys", "create", "--workspace", "someone-else", data_dir=tmp_path).strip()
    auth = {"Authorization": f"Bearer {key}", REQUEST_ID: "acceptance-1"}
    client = httpx.Client(base_url=server.base, timeout=120)
    created = client.post(
        "/tuning/v2/tasks",
        headers=auth,
        data={"model": "tiny-chat", "name": "clova-chat", "trainEpochs": "1"},
        files={"file": ("train.csv", (EXAMPLES / "clova-generation.csv").read_bytes())},
    )
    assert created.status_code == 200, created.text
    task = created.json()["result"]["id"]
    assert (
        server.poll_task(key, task, {"SUCCEEDED", "FAILED"}, timeout=300)[-1]["status"]
        == "SUCCEEDED"
    ), server.output()
    trained = time.perf_counter() - flow
    figures: dict[str, float] = {"train (create → SUCCEEDED)": trained}

    v1_url, v3_url = (
        f"/testapp/v1/tasks/{task}/chat-completions",
        f"/v3/tasks/{task}/chat-completions",
    )
    v1 = {"messages": ASK, "temperature": 0, "maxTokens": 24, "seed": 1}
    started = time.perf_counter()
    plain = client.post(v1_url, json=v1, headers=auth)
    figures["v1 plain, cold (starts the inference worker)"] = time.perf_counter() - started
    assert plain.status_code == 200, (plain.text, server.output())
    result = plain.json()["result"]
    assert plain.json()["status"]["code"] == "20000" and plain.headers[REQUEST_ID] == "acceptance-1"
    text = result["message"]["content"]
    assert result["outputLength"] > 0 and result["stopReason"] in ("length", "end_token")
    found, figures["v1 stream first token (warm)"] = _stream(client, v1_url, v1, key)
    assert [e for e, _ in found][-2:] == ["result", "signal"]
    assert "".join(d["message"]["content"] for e, d in found if e == "token") == text  # greedy
    assert found[-2][1]["message"]["content"] == text

    v3 = {"messages": ASK, "temperature": 0, "maxCompletionTokens": 24, "seed": 1}
    plain3 = client.post(v3_url, json=v3, headers=auth).json()["result"]
    assert plain3["message"]["content"] == text and plain3["usage"]["completionTokens"] > 0
    found, figures["v3 stream first token (warm)"] = _stream(client, v3_url, v3, key)
    assert found[-1][0] == "result" and found[-1][1]["message"]["content"] == text

    sdk = openai.OpenAI(
        base_url=server.base + "/v1/openai",
        api_key=key,
        max_retries=0,
        timeout=120,
        _strict_response_validation=True,
    )
    assert task in [m.id for m in sdk.models.list()]
    reply = sdk.chat.completions.create(model=task, messages=ASK, temperature=0, max_tokens=24)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == text
    started = time.perf_counter()
    pieces: list[str] = []
    for chunk in sdk.chat.completions.create(
        model=task,
        messages=ASK,
        temperature=0,
        max_tokens=24,
        stream=True,  # type: ignore[arg-type]
    ):
        for choice in chunk.choices:
            if choice.delta.content and _OPENAI_FIRST not in figures:
                figures[_OPENAI_FIRST] = time.perf_counter() - started
            pieces.append(choice.delta.content or "")
    assert "".join(pieces) == text

    stranger = {"Authorization": f"Bearer {other}"}
    for url in (v1_url, v3_url):
        for accept in ("application/json", "text/event-stream"):
            refused = client.post(url, json=v1, headers={**stranger, "Accept": accept})
            assert refused.status_code == 404 and refused.json()["status"]["code"] == "40400"
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(
            base_url=server.base + "/v1/openai", api_key=other, max_retries=0
        ).chat.completions.create(model=task, messages=ASK, stream=True)  # type: ignore[call-overload]
    figures["whole flow"] = time.perf_counter() - flow
    client.close()
    print("\nCLOVA chat on a tuned tiny-chat task (seconds):")
    for name, seconds in figures.items():
        print(f"  {name}: {seconds:.3f}")
