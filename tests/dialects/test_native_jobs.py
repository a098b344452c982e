"""The native job object and `POST /tuneyard/v1/jobs/{id}/priority` through the app; the
priority a job is created with is checked with the other fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.world import World, make_ports
from tuneyard import errors
from tuneyard.api.app import create_app
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(make_ports("memory", tmp_path), tmp_path, FakeExecutor(hold=True))


@pytest.fixture
def client(world: World, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    app = create_app(Settings(data_dir=tmp_path), world.service)
    key = world.service.credentials.create_key("ws")
    return TestClient(app), {"Authorization": f"Bearer {key}"}


def test_a_dialect_job_shows_priority_zero_and_takes_a_new_one(
    world: World, client: tuple[TestClient, dict[str, str]]
) -> None:
    http, headers = client
    job = world.submit_sample()
    shown = http.get(f"/tuneyard/v1/jobs/{job.id}", headers=headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["priority"] == 0 and shown.json()["dialect"] == "clova"
    changed = http.post(
        f"/tuneyard/v1/jobs/{job.id}/priority", headers=headers, json={"priority": 42}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["priority"] == 42 and changed.json()["id"] == job.id
    stored = world.ports.jobs.get(job.id)
    assert stored is not None and stored.priority == 42


@pytest.mark.parametrize("body", [{"priority": 101}, {"priority": -101}, {"priority": "high"}, {}])
def test_a_bad_priority_is_a_validation_error(
    world: World, client: tuple[TestClient, dict[str, str]], body: dict[str, object]
) -> None:
    http, headers = client
    job = world.submit_sample()
    response = http.post(f"/tuneyard/v1/jobs/{job.id}/priority", headers=headers, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "priority"


def test_a_finished_or_missing_job_takes_no_priority(
    world: World, client: tuple[TestClient, dict[str, str]]
) -> None:
    http, headers = client
    job = world.submit_sample()
    world.service.control.cancel("ws", job.id)
    finished = http.post(
        f"/tuneyard/v1/jobs/{job.id}/priority", headers=headers, json={"priority": 1}
    )
    assert finished.status_code == 400 and finished.json()["error"]["code"] == "wrong_state"
    missing = http.post("/tuneyard/v1/jobs/nope/priority", headers=headers, json={"priority": 1})
    assert missing.status_code == 404
    other = world.service.credentials.create_key("elsewhere")
    foreign = http.get(f"/tuneyard/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {other}"})
    assert foreign.status_code == 404


def test_a_job_is_created_with_its_priority_checked_with_the_rest(world: World) -> None:
    file_id = world.submit_sample().training_file_id
    spec = world.spec(training_file_id=file_id, priority=7)
    job = world.service.submission.create(spec)
    assert job.priority == 7 and job.status is JobStatus.CREATED
    with pytest.raises(errors.InvalidRequest) as raised:
        world.service.submission.create(dataclasses.replace(spec, priority=500))
    assert raised.value.param == "priority"
