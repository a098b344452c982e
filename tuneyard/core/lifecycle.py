"""The scheduler-side use-cases: validate → queue → start → record progress → finish.

The scheduler decides *when*; this module decides *what* each step does to a job, so the
same rules hold whatever executor runs the worker.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from tuneyard.core import checks, results
from tuneyard.core import progress as protocol
from tuneyard.core.files import StoredFile
from tuneyard.core.jobs import Job, Progress, TrainingSpec
from tuneyard.core.service import Service
from tuneyard.core.states import JobStatus
from tuneyard.datasets.report import DatasetReport

__all__ = ["Lifecycle", "failure_message"]

_S = JobStatus
_CHECKPOINT_FIELDS = (
    "step",
    "epoch",
    "path",
    "train_loss",
    "valid_loss",
    "perplexity",
    "token_accuracy",
    "reward_accuracy",
    "created_at",
)
_TIMELINE = (
    "data",
    "epoch",
    "saved",
    "preparing",
    "resumed",
    "checkpoint",
    "checkpoint_removed",
    "evaluated",
)
_MAX_ATTEMPTS = 3


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


class Lifecycle:
    """What happens to a job from validation to its final status."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.ports = service.ports

    # -- validation ---------------------------------------------------------------------
    def validate(
        self, job: Job, *, owner: str | None = None, lease_until: datetime | None = None
    ) -> None:
        """CREATED -> VALIDATING -> QUEUED, or FAILED with the dataset's first issue.

        A scheduler validates under a lease held by `owner` (renewed while it works): if it
        dies meanwhile, the lease lapses and `reap` sends the job back to CREATED."""
        lease = {"lease_owner": owner, "lease_expires_at": lease_until} if owner else {}
        if not self.service.move(job, _S.VALIDATING, **lease):
            return
        job = self._reload(job)
        files = [(job.training_file_id, "training")]
        if job.validation_file_id is not None:
            files.append((job.validation_file_id, "validation"))
        for file_id, role in files:
            stored = self.ports.files.get(file_id or "")
            param = f"{role}_file"
            if stored is None:
                message = f"The {role} dataset file does not exist."
                self.fail(job, "file.noexist", message, param=param)
                return
            path, fmt, problem = self._located(job, stored)
            if problem is not None:
                message = problem if role == "training" else f"{role}: {problem}"
                self.fail(job, "file.format", message, kind="wrong_objective", param=param)
                return
            limits = self.service.limits
            check = checks.check_dataset(
                path,
                filename=stored.filename,
                fmt=fmt,
                task_type=job.task_type,
                model=self.service.model(job.base_model),
                counters=self.ports.counters,
                limits=limits if role == "training" else dataclasses.replace(limits, min_rows=1),
            )
            report = check.report
            self._record_report(job, check, role=role)
            job = self._reload(job)
            if job.status is not _S.VALIDATING:  # cancelled meanwhile
                return
            if not report.ok:
                first = report.first
                assert first is not None
                message = failure_message(report)
                self.fail(
                    job,
                    first.reason,
                    message if role == "training" else f"{role}: {message}",
                    kind=first.kind,
                    param=param,
                )
                return
        self.service.move(job, _S.QUEUED, queued_at=self.ports.clock.now(), lease_owner=None)

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

    # -- running ------------------------------------------------------------------------
    def started(self, job: Job) -> None:
        """Log the claim (QUEUED -> RUNNING, done as one compare-and-set by the repository)
        with its attempt: 1, plus one per worker lost so far (`job.attempts`; a clean
        restart, a pause or a requeue continues the same attempt)."""
        self.ports.events.append(
            job.id,
            created_at=self.ports.clock.now(),
            level="info",
            type="status",
            message=f"Status {_S.QUEUED.value} -> {_S.RUNNING.value}",
            data={"from": _S.QUEUED.value, "to": _S.RUNNING.value, "attempt": job.attempts + 1},
        )

    def training_spec(self, job: Job) -> TrainingSpec:
        """The worker's spec for a claimed job, written to `<job dir>/spec.json`."""
        stored = self.ports.files.get(job.training_file_id or "")
        if stored is None:
            raise FileNotFoundError(f"file {job.training_file_id} of job {job.id} is gone")
        work_dir = self.service.job_dir(job.id)
        path, fmt, _ = self._located(job, stored)
        parent = (
            self.service.start_point(job.workspace_id, job.parent, param="parent")
            if job.parent is not None
            else None
        )
        validation = self.ports.files.get(job.validation_file_id or "")
        validation_path, validation_format, _ = (
            self._located(job, validation) if validation else (None, None, None)
        )
        spec = TrainingSpec(
            job_id=job.id,
            task_type=job.task_type,
            method=job.method,
            base_model=self.service.model(job.base_model).ref(),
            dataset_path=str(path),
            dataset_filename=stored.filename,
            dataset_format=fmt,
            hyperparameters=job.hyperparameters,
            output_dir=str(work_dir / "output"),
            work_dir=str(work_dir),
            objective=job.objective,
            start_from=str(parent.path) if parent else None,
            start_from_method=parent.method if parent else None,
            validation_path=str(validation_path) if validation_path else None,
            validation_filename=validation.filename if validation else None,
            validation_format=validation_format,
        )
        work_dir.mkdir(parents=True, exist_ok=True)
        tmp = work_dir / "spec.json.tmp"
        tmp.write_text(json.dumps(spec.to_dict(), indent=2))
        tmp.replace(work_dir / "spec.json")
        return spec

    def _located(self, job: Job, stored: StoredFile) -> tuple[Path, str | None, str | None]:
        """Where a file's bytes are, the format the job reads them in, and why the file
        cannot serve the job's objective (None when it can)."""
        path = self.ports.blobs.path(stored.blob_key)
        fmt, problem = checks.format_for_job(
            path, stored.filename, dialect=job.dialect, objective=job.objective
        )
        return path, fmt, problem

    def record(self, job_id: str, event: Mapping[str, Any]) -> None:
        """Apply one worker event to the job's progress and timeline."""
        job = self.ports.jobs.get(job_id)
        if job is None:
            return
        kind = event.get("event")
        now = self.ports.clock.now()
        if kind == "checkpoint":  # when it was saved, as the server saw it
            event = {**event, "created_at": now.isoformat()}
        progress = _apply(job.progress, event)
        if progress != job.progress:
            self.ports.jobs.save_progress(job_id, progress, now)
        if kind == "progress":
            self.ports.events.append(
                job_id,
                created_at=now,
                level="info",
                type="metrics",
                message=f"Step {event.get('step')}/{event.get('total_steps')}: "
                f"loss={event.get('loss')}",
                data={k: v for k, v in event.items() if k != "event"},
            )
        elif kind in _TIMELINE:
            self.ports.events.append(
                job_id,
                created_at=now,
                level="info",
                type="message",
                message=_describe(event),
                data={k: v for k, v in event.items() if k != "event"},
            )

    def finish(
        self,
        job_id: str,
        final: Mapping[str, Any] | None,
        exit_code: int | None,
        log_tail: str,
        *,
        shutting_down: bool,
    ) -> None:
        """Settle a job whose worker has exited, from its last event and exit status."""
        job = self.ports.jobs.get(job_id)
        if job is None or job.status not in (_S.RUNNING, _S.CANCELLING, _S.PAUSING):
            return
        kind = final.get("event") if final else None
        now = self.ports.clock.now()
        if job.status is _S.CANCELLING:
            self.service.move(job, _S.CANCELLED, finished_at=now, lease_owner=None)
        elif job.status is _S.PAUSING and kind not in ("succeeded", "failed"):
            self._paused(job, final)
        elif kind == "succeeded" and exit_code == protocol.EXIT_OK:
            metrics_file = results.store(self.service, job)
            progress = dataclasses.replace(
                job.progress, weights_saved=True, result_files=[metrics_file.id]
            )
            self.ports.jobs.save_progress(job.id, progress, now)
            self.service.move(
                job,
                _S.SUCCEEDED,
                finished_at=now,
                lease_owner=None,
                output_path=str(self.service.job_dir(job.id) / "output"),
            )
        elif shutting_down or kind == "cancelled":
            self.requeue(job, "The server stopped; the job will run again", lost=False)
        elif kind == "failed" and final is not None:
            self.fail(job, str(final.get("code", "train.unknown")), str(final.get("message")))
        elif kind is None and exit_code is not None and exit_code < 0:
            self.requeue(
                job,
                f"The training worker was killed (signal {-exit_code}); the job will run "
                "again from its last checkpoint",
                lost=True,
            )
        else:
            tail = log_tail.strip().splitlines()[-1:] or ["no output"]
            self.fail(
                job,
                "train.unknown",
                f"The training worker exited with status {exit_code}: {tail[0][:500]}",
            )

    def requeue(self, job: Job, reason: str, *, lost: bool) -> None:
        """RUNNING -> QUEUED to run again. Only a `lost` worker (killed, or its lease
        lapsed) counts in `job.attempts`, and the third one FAILs the job; a clean stop
        (`lost=False`) is not an attempt: the run simply goes on where it stopped."""
        attempts = job.attempts + 1 if lost else job.attempts
        if lost and attempts >= _MAX_ATTEMPTS:
            message = f"{reason}; gave up after {attempts} attempts"
            self.fail(job, "train.unknown", message, attempts=attempts)
            return
        now = self.ports.clock.now()
        if not self.service.move(
            job, _S.QUEUED, queued_at=now, lease_owner=None, attempts=attempts
        ):
            return
        self.ports.events.append(
            job.id,
            created_at=self.ports.clock.now(),
            level="warn",
            type="message",
            message=reason,
        )

    def _paused(self, job: Job, final: Mapping[str, Any] | None) -> None:
        """PAUSING -> PAUSED once the worker is gone; resuming starts from the newest
        checkpoint (the one the worker saved as it paused, if it got to)."""
        self.service.move(job, _S.PAUSED, lease_owner=None)
        step = final.get("step") if final and final.get("event") == "paused" else None
        self.ports.events.append(
            job.id,
            created_at=self.ports.clock.now(),
            level="info",
            type="message",
            message=(
                f"Paused at step {step}; resuming continues from there"
                if step is not None
                else "Paused; resuming continues from the newest checkpoint"
            ),
            data={"step": step},
        )

    def reap(self, job: Job) -> None:
        """Settle a job whose lease expired (or that has none): its owner is gone."""
        if job.status is _S.VALIDATING:
            moved = self.service.move(job, _S.CREATED, lease_owner=None, lease_expires_at=None)
            if moved:
                self.ports.events.append(
                    job.id,
                    created_at=self.ports.clock.now(),
                    level="warn",
                    type="message",
                    message="Validation was interrupted (its server stopped); checking the "
                    "dataset again",
                )
        elif job.status is _S.CANCELLING:
            self.service.move(job, _S.CANCELLED, finished_at=self.ports.clock.now())
        elif job.status is _S.PAUSING:
            self._paused(job, None)
        else:
            self.requeue(
                job, "The worker was lost (lease expired); the job will run again", lost=True
            )

    # -- helpers ------------------------------------------------------------------------
    def fail(
        self,
        job: Job,
        code: str,
        message: str,
        *,
        kind: str | None = None,
        param: str | None = None,
        attempts: int | None = None,
    ) -> None:
        """Move a job to FAILED with a failure reason and message (and, for a dataset, the
        problem's kind and the input it is about; for a lost worker, the attempts used)."""
        job = self._reload(job)
        progress = dataclasses.replace(job.progress, weights_saved=False)
        self.ports.jobs.save_progress(job.id, progress, self.ports.clock.now())
        self.service.move(
            job,
            _S.FAILED,
            error_code=code,
            error_message=message,
            error_kind=kind,
            error_param=param,
            finished_at=self.ports.clock.now(),
            lease_owner=None,
            **({} if attempts is None else {"attempts": attempts}),
        )

    def _reload(self, job: Job) -> Job:
        fresh = self.ports.jobs.get(job.id)
        assert fresh is not None
        return fresh


def _apply(progress: Progress, event: Mapping[str, Any]) -> Progress:
    """The progress after one worker event."""
    kind = event.get("event")
    if kind == "data":
        return dataclasses.replace(
            progress,
            num_tokens=progress.num_tokens
            if progress.num_tokens is not None
            else event.get("tokens"),
            labels=event.get("labels") or progress.labels,
            total_steps=event.get("total_steps"),
            total_epochs=event.get("total_epochs"),
            validation_examples=event.get("validation_examples"),
            hyperparameters=event.get("hyperparameters") or progress.hyperparameters,
            step=0,
            epoch=0,
        )
    if kind == "resumed":
        return dataclasses.replace(progress, step=event.get("step"))
    if kind == "checkpoint":
        entry = {key: event.get(key) for key in _CHECKPOINT_FIELDS}
        kept = [c for c in progress.checkpoints if c.get("step") != entry["step"]]
        return dataclasses.replace(
            progress, checkpoints=sorted([*kept, entry], key=lambda c: int(c["step"] or 0))
        )
    if kind == "checkpoint_removed":
        kept = [c for c in progress.checkpoints if c.get("step") != event.get("step")]
        return dataclasses.replace(progress, checkpoints=kept)
    if kind == "evaluated":
        return dataclasses.replace(progress, metrics=dict(event.get("metrics") or {}))
    if kind == "progress":
        return dataclasses.replace(
            progress,
            step=event.get("step"),
            total_steps=event.get("total_steps"),
            epoch=event.get("epoch"),
            total_epochs=event.get("total_epochs"),
            train_loss=event.get("loss"),
            trained_tokens=event.get("trained_tokens"),
            estimated_time_s=event.get("estimated_time_s", progress.estimated_time_s),
        )
    if kind == "succeeded":
        return dataclasses.replace(
            progress,
            trained_tokens=event.get("trained_tokens", progress.trained_tokens),
            train_loss=event.get("train_loss", progress.train_loss),
            step=progress.total_steps,
            epoch=progress.total_epochs,
        )
    return progress


def _describe(event: Mapping[str, Any]) -> str:
    kind = event.get("event")
    if kind == "data":
        return (
            f"Data ready: {event.get('rows')} rows, {event.get('tokens')} tokens, "
            f"{event.get('total_steps')} steps over {event.get('total_epochs')} epochs"
        )
    if kind == "epoch":
        return f"Epoch {event.get('epoch')} done: loss={event.get('loss')}"
    if kind == "saved":
        return f"Saved the tuned model ({event.get('format')})"
    if kind == "resumed":
        return f"Resumed from the checkpoint at step {event.get('step')}"
    if kind == "checkpoint":
        return (
            f"Checkpoint at step {event.get('step')}: train_loss={event.get('train_loss')}, "
            f"valid_loss={event.get('valid_loss')}, perplexity={event.get('perplexity')}"
        )
    if kind == "checkpoint_removed":
        return f"Removed the checkpoint at step {event.get('step')} (save_total_limit)"
    if kind == "evaluated":
        metrics = event.get("metrics") or {}
        shown = ", ".join(f"{k}={v}" for k, v in metrics.items())
        return f"Evaluation: {shown or 'no validation data'}"
    return f"Preparing {event.get('stage')}"
