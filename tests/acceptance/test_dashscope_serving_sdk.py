"""The real `dashscope` SDK deploys a freshly tuned tiny-chat job and generates from it
against a real server and inference worker: `Deployments.call/get/list/scale/delete`,
`Generation.call(stream=True, incremental_output=True)`, then the OpenAI SDK on
`/compatible-mode/v1` over the same deployment. Prints the flow's wall time and the
first-token latencies: cold (the inference worker starts), then medians of five warm
streams (run with `-s` to see them)."""

from __future__ import annotations

import gc
import statistics
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Server, cli, poll
from tests.support.world import EXAMPLES

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

dashscope = pytest.importorskip("dashscope")
openai = pytest.importorskip("openai")

QUICK = {"n_epochs": 1, "batch_size": 8, "max_length": 128, "lora_dropout": 0, "split": 0.9}
ASK = [
    {"role": "system", "content": "You are a concise arithmetic tutor."},
    {"role": "user", "content": "What is two plus three?"},
]
SLOTS = 8


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path, "--inference-slots", str(SLOTS), "--inference-idle-seconds", "120")
    yield running
    assert running.interrupt() == 0, running.output()
    with warnings.catch_warnings():  # the SDK leaves its connections to the collector
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _tuned(server: Server, dataset: Path) -> str:
    """A finished efficient_sft job's `finetuned_output`, made through the SDK."""
    uploaded = dashscope.Files.upload(file_path=str(dataset), purpose="fine_tune")
    assert uploaded.status_code == 200, uploaded
    file_id = uploaded.output["uploaded_files"][0]["file_id"]
    created = dashscope.FineTunes.call(
        model="tiny-chat", training_file_ids=[file_id], mode="efficient_sft", hyper_parameters=QUICK
    )
    assert created.status_code == 200, created
    done = poll(
        lambda: dashscope.FineTunes.get(created.output.job_id).output,
        lambda job: job.status in ("SUCCEEDED", "FAILED", "CANCELED"),
    )
    assert done.status == "SUCCEEDED", server.output()
    return str(done.finetuned_output)


def _stream(model: str) -> tuple[str, float, float, Any]:
    """Stream a greedy reply: (text, seconds to the first text, seconds in all, last
    response)."""
    started = time.monotonic()
    first, pieces, last = 0.0, [], None
    for response in dashscope.Generation.call(
        model=model,
        messages=ASK,
        result_format="message",
        stream=True,
        incremental_output=True,
        temperature=0,
        max_tokens=24,
    ):
        assert response.status_code == 200, response
        content = response.output.choices[0].message.content
        if content and not first:
            first = time.monotonic() - started
        pieces.append(content)
        last = response
    return "".join(pieces), first, time.monotonic() - started, last


def test_deploy_and_generate_through_the_sdks(server: Server, tmp_path: Path) -> None:
    key = cli("keys", "create", "--workspace", "llm-serving", data_dir=server.data_dir).strip()
    dashscope.base_http_api_url = f"{server.base}/api/v1"
    dashscope.api_key = key
    dataset = tmp_path / "sums.jsonl"
    dataset.write_bytes((EXAMPLES / "chat.jsonl").read_bytes())
    tuned = _tuned(server, dataset)

    flow = time.monotonic()
    deployed = dashscope.Deployments.call(model=tuned, capacity=2, suffix="acc", plan="lora")
    assert deployed.status_code == 200, (deployed, server.output())
    name = deployed.output.deployed_model
    assert name == f"{tuned}-acc" and deployed.output.status == "RUNNING"
    assert deployed.output.capacity == 2 and deployed.output.ready_capacity == 2
    assert dashscope.Deployments.get(name).output.model_name == tuned
    listed = dashscope.Deployments.list(page_no=1, page_size=10)
    assert listed.output.total == 1 and listed.output.deployments[0].deployed_model == name
    scaled = dashscope.Deployments.scale(name, capacity=4)
    assert scaled.status_code == 200 and scaled.output.capacity == 4
    clash = dashscope.Deployments.call(model=tuned, capacity=1, suffix="acc")
    assert (clash.status_code, clash.code) == (409, "Conflict")
    too_big = dashscope.Deployments.call(model=tuned, capacity=SLOTS, suffix="big")
    assert (too_big.status_code, too_big.code) == (400, "InvalidParameter")
    assert "4 of its 8" in too_big.message

    cold_text, cold_first, cold_total, _ = _stream(name)  # starts the inference worker
    warm = [_stream(name) for _ in range(5)]
    text, _, _, last = warm[-1]
    assert text and all(w[0] == cold_text for w in warm), server.output()  # greedy: the same
    first = statistics.median(w[1] for w in warm)
    total = statistics.median(w[2] for w in warm)
    assert last.output.choices[0].finish_reason in ("stop", "length")
    assert last.usage.input_tokens > 0 and last.usage.output_tokens > 0
    whole = dashscope.Generation.call(
        model=name, messages=ASK, result_format="message", temperature=0, max_tokens=24
    )
    assert whole.output.choices[0].message.content == text
    plain = dashscope.Generation.call(model=name, prompt="What is two plus three?", max_tokens=8)
    assert plain.status_code == 200 and plain.output.text is not None
    undeployed = dashscope.Generation.call(model=tuned, messages=ASK)
    assert (undeployed.status_code, undeployed.code) == (404, "ModelNotFound")

    compat = openai.OpenAI(
        base_url=f"{server.base}/compatible-mode/v1", api_key=key, max_retries=0, timeout=120
    )
    firsts = []
    for _ in range(5):
        started, compat_first, pieces = time.monotonic(), 0.0, []
        for chunk in compat.chat.completions.create(
            model=name, messages=ASK, temperature=0, max_tokens=24, stream=True
        ):
            piece = "".join(c.delta.content or "" for c in chunk.choices)
            if piece and not compat_first:
                compat_first = time.monotonic() - started
            pieces.append(piece)
        assert "".join(pieces) == text
        firsts.append(compat_first)
    compat_first = statistics.median(firsts)

    gone = dashscope.Deployments.delete(name)
    assert gone.status_code == 200 and gone.output.status == "DELETING"
    assert dashscope.Deployments.get(name).status_code == 404
    flow_s = time.monotonic() - flow
    print(
        f"\n[dashscope serving] flow (deploy … delete, SDK calls) {flow_s:.2f} s; "
        f"first token: cold {cold_first * 1000:.0f} ms (worker start), "
        f"warm {first * 1000:.0f} ms (reply {total * 1000:.0f} ms; medians of 5), "
        f"compatible-mode {compat_first * 1000:.0f} ms (median of 5); "
        f"cold reply {cold_total:.2f} s"
    )
