"""Validating a job before it is queued: CREATED -> VALIDATING -> QUEUED, or FAILED with
the dataset's first issue (every issue is listed in the job's events)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from tuneyard import errors
from tuneyard.core import checks
from tuneyard.core.catalog import Models
from tuneyard.core.estimates import EXCEEDED, Estimates
from tuneyard.core.files import StoredFile
from tuneyard.core.jobs import Job
from tuneyard.core.ports import Fence, Ports
from tuneyard.core.states import JobStatus
from tuneyard.core.transitions import Transitions
from tuneyard.datasets import choice
from tuneyard.datasets.report import DatasetReport, Limits

__all__ = ["Validation", "failure_message", "locate"]

_S = JobStatus


def failure_message(report: DatasetReport) -> str:
    """The job message for a failed dataset check: the first issue, where, and how many more."""
    first = report.first
    assert first is not None
    text = first.message
    if first.line is not None:
        text += f" (line {first.line})"
    more = report.total_issues - 1
    if more > 0:
        text += (
            f"; {more} more issue{'s' if more > 1 else ''} in this file, listed in the job's events"
        )
    return text


def locate(ports: Ports, job: Job, stored: StoredFile) -> tuple[Path, str | None, str | None]:
    """Where a file's bytes are, the format the job reads them in, and why the file
    cannot serve the job's objective (None when it can)."""
    path = ports.blobs.path(stored.blob_key)
    fmt, problem = choice.format_for_job(
        path, stored.filename, dialect=job.dialect, objective=job.objective
    )
    return path, fmt, problem


class Validation:
    """Check a job's dataset files and queue the job, or fail it."""

    def __init__(
        self,
        ports: Ports,
        *,
        transitions: Transitions,
        models: Models,
        limits: Limits,
        estimates: Estimates | None = None,
    ) -> None:
        self.ports = ports
        self.estimates = estimates
        """Estimates the job once its training file is counted (None: no estimate)."""
        self.transitions = transitions
        self.models = models
        self.limits = limits
        """What every dataset is checked against (size, rows, issues listed)."""

    def validate(
        self, job: Job, *, owner: str | None = None, lease_until: datetime | None = None
    ) -> None:
        """CREATED -> VALIDATING -> QUEUED, or FAILED with the dataset's first issue.

        A scheduler validates under a lease held by `owner` (renewed while it works): if it
        dies meanwhile, the lease lapses and `reap` sends the job back to CREATED. Only one
        of several schedulers wins the move to VALIDATING (a compare-and-set), and every
        later move is fenced on `owner` still holding the lease, so a scheduler that lost
        it (another reaped the job and validates it again) changes nothing."""
        lease = {"lease_owner": owner, "lease_expires_at": lease_until} if owner else {}
        if not self.transitions.move(job, _S.VALIDATING, **lease):
            return
        fence = Fence(held_by=owner) if owner else None
        job = self._reload(job)
        training: checks.DatasetCheck | None = None
        files = [(job.training_file_id, "training")]
        if job.validation_file_id is not None:
            files.append((job.validation_file_id, "validation"))
        for file_id, role in files:
            stored = self.ports.files.get(file_id or "")
            param = f"{role}_file"
            if stored is None:
                message = f"The {role} dataset file does not exist."
                self.transitions.fail(job, "file.noexist", message, param=param, fence=fence)
                return
            path, fmt, problem = locate(self.ports, job, stored)
            if problem is not None:
                message = problem if role == "training" else f"{role}: {problem}"
                self.transitions.fail(
                    job,
                    "file.format",
                    message,
                    kind="wrong_objective",
                    param=param,
                    fence=fence,
                )
                return
            limits = self.limits
            check = checks.check_dataset(
                path,
                filename=stored.filename,
                fmt=fmt,
                task_type=job.task_type,
                model=self.models.get(job.base_model),
                counters=self.ports.counters,
                limits=limits if role == "training" else dataclasses.replace(limits, min_rows=1),
            )
            report = check.report
            if role == "training":
                training = check
            self._record_report(job, check, role=role)
            job = self._reload(job)
            if job.status is not _S.VALIDATING:  # cancelled meanwhile
                return
            if not report.ok:
                first = report.first
                assert first is not None
                message = failure_message(report)
                self.transitions.fail(
                    job,
                    first.reason,
                    message if role == "training" else f"{role}: {message}",
                    kind=first.kind,
                    param=param,
                    fence=fence,
                )
                return
        if training is not None and not self._estimated(job, training, fence):
            return
        self.transitions.move(
            job, _S.QUEUED, fence, queued_at=self.ports.clock.now(), lease_owner=None
        )

    def _estimated(self, job: Job, check: checks.DatasetCheck, fence: Fence | None) -> bool:
        """Record the job's estimate (on the job and as an `estimate` event); False when
        the job was failed for it (it does not fit, or is over the policy)."""
        if self.estimates is None or self.estimates.sizing is None:
            return True
        why = "the tokens were not counted, or this machine is still being calibrated"
        try:
            found = self.estimates.of_check(check, self.models.get(job.base_model), job, wait=False)
        except errors.UnsupportedFeature as exc:
            found, why = None, exc.message
        now = self.ports.clock.now()
        if found is None:
            self.ports.events.append(
                job.id, created_at=now, level="info", type="estimate", message=f"No estimate: {why}"
            )
            return True
        self.ports.events.append(
            job.id,
            created_at=now,
            level="info",
            type="estimate",
            message=f"Estimate: {found.describe()}",
            data=found.to_dict(),
        )
        job = self._reload(job)
        progress = dataclasses.replace(job.progress, estimate=found.to_dict())
        self.ports.jobs.save_progress(job.id, progress, now)
        reason = self.estimates.refusal(found)
        if reason is None:
            return True
        self.transitions.fail(job, EXCEEDED, reason, param="hyperparameters", fence=fence)
        return False

    def _record_report(self, job: Job, check: checks.DatasetCheck, *, role: str) -> None:
        report = check.report
        now = self.ports.clock.now()
        if role == "training":
            progress = dataclasses.replace(
                job.progress,
                data_rows=report.rows,
                num_tokens=check.profile.tokens if report.ok and check.profile else None,
                labels=list(report.labels) if report.labels is not None else None,
            )
            self.ports.jobs.save_progress(job.id, progress, now)
        for issue in report.issues:
            self.ports.events.append(
                job.id,
                created_at=now,
                level="error",
                type="message",
                message=f"Dataset ({role}): {issue.describe()}",
                data={"reason": issue.reason, "line": issue.line, "field": issue.field},
            )
        summary = (
            f"Dataset checked ({role}): {report.rows} rows, {report.conversations} conversations"
        )
        if report.total_issues:
            summary += f", {report.total_issues} issue(s)"
        self.ports.events.append(
            job.id,
            created_at=now,
            level="info",
            type="message",
            message=summary,
            data=report.to_dict(),
        )

    def _reload(self, job: Job) -> Job:
        fresh = self.ports.jobs.get(job.id)
        assert fresh is not None
        return fresh
