"""A real `tuneyard serve` and a tiny real job, then the tuned model through OpenAI's chat
completions (streaming and not, its checkpoint too), the models API, and Ctrl-C stopping
the inference worker with the server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.server import Server, cli, poll
from tests.support.world import EXAMPLES

pytestmark = pytest.mark.integration

ASK = [
    {"role": "system", "content": "You are a concise arithmetic tutor."},
    {"role": "user", "content": "What is two plus three?"},
]


def _workers(server_pid: int) -> list[int]:
    """Inference workers (`python -m tuneyard.serving … --parent-pid SERVER`) alive now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"tuneyard.serving" in argv and str(server_pid).encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, openai.OpenAI]]:
    key = cli("keys", "create", data_dir=tmp_path).strip()
    server = Server(tmp_path, "--inference-idle-seconds", "60")
    sdk = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=120)
    try:
        yield server, sdk
    finally:
        server.close()


def test_chat_with_a_freshly_tuned_model(served: tuple[Server, openai.OpenAI]) -> None:
    server, sdk = served
    upload = sdk.files.create(
        file=("chat.jsonl", (EXAMPLES / "chat.jsonl").read_bytes()), purpose="fine-tune"
    )
    job = sdk.fine_tuning.jobs.create(
        model="tiny-chat",
        training_file=upload.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
    )
    done = poll(
        lambda: sdk.fine_tuning.jobs.retrieve(job.id),
        lambda j: j.status in ("succeeded", "failed", "cancelled"),
        timeout=300,
    )
    assert done.status == "succeeded", server.output()
    model = done.fine_tuned_model
    assert model is not None

    reply = sdk.chat.completions.create(model=model, messages=ASK, temperature=0, max_tokens=24)  # type: ignore[arg-type]
    text = reply.choices[0].message.content
    assert text and reply.choices[0].finish_reason in ("stop", "length"), (reply, server.output())
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    pieces: list[str] = []
    usage = None
    for chunk in sdk.chat.completions.create(
        model=model, messages=ASK, temperature=0, max_tokens=24, stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    ):  # fmt: skip
        pieces += [c.delta.content or "" for c in chunk.choices]
        usage = chunk.usage
    assert "".join(pieces) == text  # greedy: the same reply, streamed
    assert usage is not None and usage.completion_tokens == reply.usage.completion_tokens

    checkpoints = sdk.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints, "the run saved no checkpoint"
    step = sdk.chat.completions.create(
        model=checkpoints[0].fine_tuned_model_checkpoint,
        messages=ASK,
        max_tokens=8,  # type: ignore[arg-type]
    )
    assert step.choices[0].message.content is not None
    base = sdk.chat.completions.create(model="tiny-chat", messages=ASK, max_tokens=8)  # type: ignore[arg-type]
    assert base.model == "tiny-chat"

    # The SDK's strict response validation accepts every shape too.
    strict = openai.OpenAI(
        base_url=server.base + "/v1",
        api_key=sdk.api_key,
        max_retries=0,
        timeout=120,
        _strict_response_validation=True,
    )
    again = strict.chat.completions.create(
        model=model,
        messages=ASK,
        temperature=0,
        max_tokens=24,
        logprobs=True,
        top_logprobs=2,  # type: ignore[arg-type]
    )
    assert again.choices[0].message.content == text and again.choices[0].logprobs is not None
    streamed = strict.chat.completions.create(
        model=model,
        messages=ASK,
        temperature=0,
        max_tokens=24,
        stream=True,  # type: ignore[arg-type]
    )
    assert "".join(c.delta.content or "" for ch in streamed for c in ch.choices) == text
    assert strict.models.retrieve(model).id == model
    assert model in [m.id for m in strict.models.list()]
    assert strict.models.delete(model).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model=model, messages=ASK)  # type: ignore[arg-type]
    assert sdk.fine_tuning.jobs.retrieve(job.id).status == "succeeded"

    workers = _workers(server.process.pid)
    assert len(workers) == 1, workers
    started = time.monotonic()
    assert server.interrupt() == 0, server.output()
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 10
    while _workers(server.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _workers(server.process.pid) == [], "the inference worker outlived the server"
    assert (server.data_dir / "inference.log").is_file()  # the worker's own log
