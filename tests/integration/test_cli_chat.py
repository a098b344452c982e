"""`tuneyard chat` as a user runs it: piped into a real `tuneyard serve` and its real
inference worker on tiny-chat; and, over a live server with the fake engine, a job id
resolved to its tuned model and Ctrl-C stopping a reply and freeing its slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support.server import Server, cli, free_port, poll
from tests.support.world import World, make_ports, run_with_checkpoints
from tuneyard.api.app import create_app
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.serving import protocol
from tuneyard.serving.fake import FakeInference
from tuneyard.settings import Settings

pytestmark = pytest.mark.integration

LINES = ["Reverse: abc", "What is two plus three?"]


def _chat(*args: str, stdin: str, url: str, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneyard", "chat", *args, "--url", url, "--key", key],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    data_dir = tmp_path_factory.mktemp("chat-data")
    key = cli("keys", "create", "--workspace", "chat", data_dir=data_dir).strip()
    server = Server(data_dir, "--inference-idle-seconds", "60")
    try:
        yield server, key
    finally:
        server.close()


def _reply(server: Server, key: str, messages: list[dict[str, str]]) -> str:
    response = server.client.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "tiny-chat", "messages": messages, "temperature": 0, "max_tokens": 24},
        timeout=120,
    )
    assert response.status_code == 200, (response.text, server.output())
    text: str = response.json()["choices"][0]["message"]["content"]
    return text


def test_piped_lines_are_answered_in_turn_by_the_real_engine(served: tuple[Server, str]) -> None:
    server, key = served
    done = _chat(
        "tiny-chat", "--temperature", "0", "--max-tokens", "24",
        stdin="\n".join(LINES) + "\n", url=server.base, key=key,
    )  # fmt: skip
    assert done.returncode == 0, (done.stderr, server.output())
    # Greedy: the streamed replies are the ones the API gives for the same conversation.
    first = _reply(server, key, [{"role": "user", "content": LINES[0]}])
    history = [
        {"role": "user", "content": LINES[0]},
        {"role": "assistant", "content": first},
        {"role": "user", "content": LINES[1]},
    ]
    second = _reply(server, key, history)
    assert first and second
    assert done.stdout == f"{first}\n{second}\n"
    assert "you>" not in done.stdout + done.stderr  # no prompt when piped


def test_an_unknown_model_and_a_bad_key_end_with_the_servers_message(
    served: tuple[Server, str],
) -> None:
    server, key = served
    unknown = _chat("no-such-model", stdin="hi\n", url=server.base, key=key)
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "The model `no-such-model` does not exist" in unknown.stderr
    refused = _chat("tiny-chat", stdin="hi\n", url=server.base, key="nv-" + "0" * 32)
    assert refused.returncode == 1
    assert "tuneyard keys create --workspace NAME" in refused.stderr


def test_no_server_at_the_url_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = _chat("tiny-chat", stdin="hi\n", url=url, key="nv-any")
    assert done.returncode == 1
    assert f"cannot reach {url}" in done.stderr and "`tuneyard serve` running" in done.stderr


# -- over a live server with the fake engine ---------------------------------------------


class _Live:
    """The app on a real socket (uvicorn in a thread) over a fake engine."""

    def __init__(self, tmp_path: Path) -> None:
        self.world = World(
            make_ports("memory", tmp_path), tmp_path, FakeExecutor(run_with_checkpoints)
        )
        self.engine = FakeInference()
        app = create_app(Settings(data_dir=tmp_path), self.world.service, inference=self.engine)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        poll(lambda: self.server.started, bool, timeout=30)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[_Live]:
    running = _Live(tmp_path)
    try:
        yield running
    finally:
        running.close()


def _generated(engine: FakeInference) -> list[protocol.Generate]:
    return [r for r in engine.requests if isinstance(r, protocol.Generate)]


def test_a_job_id_chats_with_its_tuned_model_and_ctrl_c_frees_the_slot(live: _Live) -> None:
    key = live.world.service.credentials.create_key("ws")
    job = live.world.submit_sample("ws")
    live.world.wait_status(job.id, JobStatus.SUCCEEDED)
    model: Any = httpx.get(
        f"{live.url}/v1/fine_tuning/jobs/ftjob-{job.id}",
        headers={"Authorization": f"Bearer {key}"},
    ).json()["fine_tuned_model"]
    assert model.startswith("ft:")

    chat = subprocess.Popen(
        [sys.executable, "-m", "tuneyard", "chat", job.id, "--url", live.url, "--key", key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert chat.stdin is not None
    try:
        chat.stdin.write("tell me a story !hang\n")  # the fake engine never finishes it
        chat.stdin.flush()
        poll(lambda: live.engine.outstanding, lambda n: n == 1, timeout=60)
        time.sleep(0.2)  # the reply's first chunk has reached the client
        chat.send_signal(signal.SIGINT)
        poll(lambda: live.engine.outstanding, lambda n: n == 0, timeout=30)  # slot freed
        out, err = chat.communicate("and now briefly\n", timeout=60)
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.communicate()
    assert chat.returncode == 0, err
    assert out == "and now briefly\n"
    assert "(stopped)" in err
    first, second = _generated(live.engine)
    assert protocol.Cancel(id=first.id) in live.engine.requests
    assert second.messages == ({"role": "user", "content": "and now briefly"},)  # nothing came
    tuned = live.world.ports.jobs.get(job.id)
    assert tuned is not None and second.target.adapter == tuned.output_path  # the job's model
