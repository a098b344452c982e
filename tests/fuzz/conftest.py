"""The fuzz tier: hostile requests to every dialect's routes, in process, with valid keys.

Every response must be below 500, and every 4xx must carry the dialect's own error
envelope. Examples are derandomized (the same inputs on every run) and the number of
requests sent to each dialect is printed at the end of the session.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from tests.support.world import EXAMPLES, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.api.dialects.qianfan import signature
from tuneyard.core.jobs import Hyperparameters, JobSpec
from tuneyard.datasets import validator
from tuneyard.kinds import Method, Objective, TaskType
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""The tier's Hypothesis settings: the same examples on every run, no time limit per
example, nothing written to disk. Each test adds its own `max_examples`."""

SENT: collections.Counter[str] = collections.Counter()
"""Requests sent per dialect in this session."""

Envelope = Callable[[Any], bool]


def _clova(body: Any) -> bool:
    status = body.get("status") if isinstance(body, dict) else None
    return (
        isinstance(status, dict)
        and isinstance(status.get("code"), str)
        and isinstance(status.get("message"), str)
    )


def _vendor(request_id: str) -> Envelope:
    def check(body: Any) -> bool:
        return (
            isinstance(body, dict)
            and isinstance(body.get(request_id), str)
            and isinstance(body.get("code"), str)
            and isinstance(body.get("message"), str)
        )

    return check


def _nested(*keys: str) -> Envelope:
    def check(body: Any) -> bool:
        error = body.get("error") if isinstance(body, dict) else None
        return (
            isinstance(error, dict)
            and set(keys) <= set(error)
            and isinstance(error.get("message"), str)
        )

    return check


ENVELOPES: dict[str, Envelope] = {
    "clova": _clova,
    "dashscope": _vendor("request_id"),
    "qianfan": _vendor("requestId"),
    "openai": _nested("message", "type", "param", "code"),
    "native": _nested("code", "message", "param"),
}
"""Each dialect's error envelope (CLOVA `status`, DashScope/Qianfan flat with the request
id, OpenAI and native nested under `error`)."""


class Fuzzer:
    """One app over a SQLite world, a key for every dialect, and a few real resources
    (an uploaded file, a job, a Qianfan job group) for the requests to aim at."""

    def __init__(self, root: Path) -> None:
        self.world = World(make_ports("sqlite", root), root, FakeExecutor())
        service = self.world.service
        self.client = TestClient(
            create_app(Settings(data_dir=root), service), raise_server_exceptions=False
        )
        self.key = service.credentials.create_key("ws", account="1396993924585947")
        self.bearer = {"Authorization": f"Bearer {self.key}"}
        self.ak, self.sk = service.credentials.create_access_key("ws")
        stored, problem = service.uploads.upload_dataset(
            "ws",
            "train.jsonl",
            [(EXAMPLES / "chat.jsonl").read_bytes()],
            formats=validator.FORMATS,
            purpose="fine-tune",
        )
        assert stored is not None, problem
        self.file_id = stored.id
        spec = JobSpec(
            workspace_id="ws",
            display_name="seed",
            base_model="tiny-chat",
            task_type=TaskType.GENERATION,
            method=Method.LORA,
            hyperparameters=Hyperparameters(n_epochs=1),
            dialect="dashscope",
            training_file_id=stored.id,
        )
        self.job_id = service.submission.create(spec).id
        self.openai_job = f"ftjob-{self.job_id}"
        self.checkpoint = "checkpoint-2"
        self.group_id = service.groups.create(
            "ws",
            name="seed",
            description="",
            base_model="tiny-chat",
            objective=Objective.SFT,
            created_by="ws",
            echo={"trainMode": "SFT"},
        ).id

    def send(self, dialect: str, method: str, url: str, **kwargs: Any) -> Any:
        """Send one request; assert no 5xx and the dialect's envelope on a 4xx."""
        SENT[dialect] += 1
        response = self.client.request(method, url, **kwargs)
        where = f"{method} {url[:300]} -> {response.status_code}: {response.text[:500]}"
        assert response.status_code < 500, where
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                raise AssertionError(
                    f"a {response.status_code} that is not JSON: {where}"
                ) from None
            assert ENVELOPES[dialect](body), f"not the {dialect} envelope: {where}"
        return response

    def qianfan_headers(
        self, query: list[tuple[str, str]], *, expiration: str = "300", stamp: str | None = None
    ) -> dict[str, str]:
        """Headers signed with bce-auth-v1 as the SDK signs them, for this query."""
        now = self.world.ports.clock.now()
        stamp = stamp or now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {"host": "testserver", "content-type": "application/json", "x-bce-date": stamp}
        order = ["host", "x-bce-date", "content-type"]
        try:
            seconds = int(expiration)
        except ValueError:
            seconds = 300
        auth = signature.Authorization(self.ak, stamp, seconds, tuple(order), "")
        canonical = signature.canonical_request("POST", "/v2/finetuning", query, headers, order)
        signed = signature.sign(self.sk, auth, canonical)
        headers["authorization"] = (
            f"bce-auth-v1/{self.ak}/{stamp}/{expiration}/{';'.join(order)}/{signed}"
        )
        return headers


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    """One world per fuzz module (each module fuzzes one dialect)."""
    made = Fuzzer(tmp_path_factory.mktemp("fuzz"))
    with made.client:
        yield made


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/fuzz carries the `fuzz` marker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fuzz)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how many requests the fuzz tier sent to each dialect."""
    if SENT:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(SENT.items()))
        terminalreporter.write_line(f"fuzz requests sent: {counts} (total {sum(SENT.values())})")
