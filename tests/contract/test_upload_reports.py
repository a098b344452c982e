"""The console's dataset use-cases on every backend: an upload is kept only when the
check a job's dataset gets finds nothing (every issue reported either way), and a kept
file is checked again for the job it is about to serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.world import EXAMPLES
from tuneyard import errors
from tuneyard.core.ports import Ports
from tuneyard.core.service import Service
from tuneyard.datasets.report import Limits
from tuneyard.kinds import Objective, TaskType

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()


@pytest.fixture
def service(ports: Ports, tmp_path: Path) -> Service:
    return Service(ports, data_dir=tmp_path, limits=Limits(min_rows=100))


def test_a_clean_upload_is_kept_with_its_report(service: Service) -> None:
    stored, check = service.uploads.upload_reported("ws", "train.jsonl", [CHAT])
    assert stored is not None and check.ok
    assert check.report.rows == 120 and check.report.format == "openai-chat"
    assert service.uploads.get_file("ws", stored.id).bytes == len(CHAT)


def test_an_upload_with_issues_is_not_kept_and_every_issue_is_reported(
    service: Service, ports: Ports, tmp_path: Path
) -> None:
    lines = CHAT.decode().splitlines()
    lines[4] = "not json"
    lines[9] = '{"messages": []}'
    stored, check = service.uploads.upload_reported(
        "ws", "train.jsonl", ["\n".join(lines).encode()]
    )
    assert stored is None
    assert [(i.line, i.reason) for i in check.report.issues] == [
        (5, "file.format"),
        (10, "file.format"),
    ]
    assert ports.files.page("ws", offset=0, limit=10).total == 0
    left = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert left == []  # its bytes are gone too


def test_the_full_limits_apply_as_before_a_job(service: Service) -> None:
    few = "\n".join(CHAT.decode().splitlines()[:5]).encode()  # a job needs 10 examples
    stored, check = service.uploads.upload_reported("ws", "train.jsonl", [few])
    assert stored is None and check.report.total_issues == 1
    assert check.report.issues[0].kind == "invalid_n_examples"


def test_a_kept_file_is_checked_again_for_the_job(service: Service) -> None:
    stored, _ = service.uploads.upload_reported("ws", "train.jsonl", [CHAT])
    assert stored is not None
    check = service.uploads.check_for_job(
        "ws",
        stored.id,
        model_name="tiny-chat",
        task_type=TaskType.GENERATION,
        objective=Objective.SFT,
        dialect="console",
    )
    assert check.ok and check.profile is not None and check.profile.tokens > 0
    with pytest.raises(errors.InvalidRequest, match="DPO trains on"):
        service.uploads.check_for_job(
            "ws",
            stored.id,
            model_name="tiny-chat",
            task_type=TaskType.GENERATION,
            objective=Objective.DPO,
            dialect="console",
        )
    with pytest.raises(errors.FileNotFound):
        service.uploads.check_for_job(
            "other",
            stored.id,
            model_name="tiny-chat",
            task_type=TaskType.GENERATION,
            objective=Objective.SFT,
            dialect="console",
        )
