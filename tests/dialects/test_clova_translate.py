"""CLOVA translation: pure functions, no server."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support import seed
from tests.support.world import ManualClock
from tuneyard import errors
from tuneyard.api.dialects.clova import create, translate, wire
from tuneyard.core.jobs import Hyperparameters, Job, Progress
from tuneyard.core.ports import Page
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Method, TaskType


def _job(**changes: object) -> Job:
    now = ManualClock().now()
    fields: dict[str, object] = dict(
        id="czf9fbky",
        workspace_id="ws",
        display_name="230821-130704",
        base_model="HCX-003",
        task_type=TaskType.GENERATION,
        method=Method.LORA,
        training_file_id="f",
        hyperparameters=Hyperparameters(),
        dialect="clova",
        created_via="API",
        status=JobStatus.CREATED,
        progress=Progress(),
        created_at=now,
        updated_at=now,
    )
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


def test_time_format_is_kst_without_colon() -> None:
    moment = dt.datetime(2023, 8, 21, 4, 7, 6, tzinfo=dt.UTC)
    assert translate.format_time(moment) == "2023-08-21T13:07:06+0900"
    assert translate.format_time(None) is None


def test_every_neutral_status_maps() -> None:
    assert set(translate.STATUS) == set(JobStatus)
    assert set(translate.STATUS.values()) == {"WAIT", "RUNNING", "FAILED", "SUCCEEDED"}


def test_a_new_task_matches_the_seed_example() -> None:
    body = translate.task(_job())
    assert set(body) == seed.TASK_FIELDS
    assert set(body["statusInfo"]) == seed.STATUS_INFO_FIELDS
    assert all(v is None for v in body["statusInfo"].values())
    assert body["status"] == "WAIT"
    assert body["trainEpochs"] == 8 and body["learningRate"] == 1.0e-4
    assert body["createdDate"] == "2026-11-23T13:07:06+0900"
    assert body["createdClientType"] == "API" and body["method"] == "LoRA"


def test_classification_labels_and_generation_null() -> None:
    progress = Progress(labels=["negative", "positive"])
    cls = translate.task(_job(task_type=TaskType.CLASSIFICATION, progress=progress))
    assert cls["statusInfo"]["label"] == ["negative", "positive"]
    assert cls["taskType"] == "CLASSIFICATION"
    assert translate.task(_job(progress=progress))["statusInfo"]["label"] is None


def test_cancelled_renders_as_failed_with_a_reason() -> None:
    body = translate.task(_job(status=JobStatus.CANCELLED))
    assert body["status"] == "FAILED"
    assert body["statusInfo"]["failureReason"] == "train.unknown"


@pytest.mark.parametrize(
    ("sent", "epochs", "rate"),
    [
        ({"trainEpochs": 3, "learningRate": 1e-5}, 3, 1e-5),
        ({"trainEpochs": "3", "learningRate": "1e-5f"}, 3, 1e-5),
        ({"trainEpochs": "3.0", "learningRate": "0.0001"}, 3, 1e-4),
        ({}, 8, 1e-4),
    ],
)
def test_numbers_as_numbers_or_strings(sent: dict[str, object], epochs: int, rate: float) -> None:
    sent_create = wire.parse_create({"model": "tiny-chat", **sent})
    spec = create.to_spec(sent_create, workspace_id="ws", now=ManualClock().now())
    assert spec.hyperparameters.n_epochs == epochs
    assert spec.hyperparameters.learning_rate == pytest.approx(rate)
    assert spec.display_name == "261123-130706"
    assert (spec.task_type, spec.method) == (TaskType.GENERATION, Method.LORA)


@pytest.mark.parametrize(
    ("sent", "error", "match"),
    [
        ({"trainEpochs": "many"}, errors.InvalidRequest, "trainEpochs"),
        ({"trainEpochs": 2.5}, errors.InvalidRequest, "whole number"),
        ({"trainEpochs": 21}, errors.InvalidRequest, "between 1 and 20"),
        ({"learningRate": 2}, errors.InvalidRequest, "learningRate"),
        ({"tuningType": "RLHF"}, errors.UnsupportedFeature, "RLHF"),
        ({"taskType": "SUMMARY"}, errors.InvalidRequest, "taskType"),
        ({"model": None}, errors.InvalidRequest, "model"),
    ],
)
def test_bad_requests(sent: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        sent_create = wire.parse_create({"model": "tiny-chat", **sent})
        create.to_spec(sent_create, workspace_id="ws", now=ManualClock().now())


def test_object_storage_needs_all_four_fields() -> None:
    sent_create = wire.parse_create(
        {"model": "m", "trainingDatasetBucket": "b", "trainingDatasetFilePath": "p.csv"}
    )
    with pytest.raises(errors.InvalidRequest, match="trainingDatasetAccessKey"):
        create.object_source(sent_create)
    assert create.object_source(wire.parse_create({"model": "m"})) is None


def test_page_is_spring_style() -> None:
    body = translate.page(Page(items=[_job()], total=41), number=2, size=20)
    assert {k: v for k, v in body.items() if k != "content"} == {
        "totalPages": 3,
        "totalElements": 41,
        "size": 20,
        "number": 2,
    }
    assert len(body["content"]) == 1


def test_error_codes() -> None:
    assert translate.error_status("unauthenticated", "") == {
        "code": "40100",
        "message": "Unauthorized",
    }
    assert translate.error_status("model_not_found", "model not found")["code"] == "40080"
