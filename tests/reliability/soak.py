"""The crash soak's moving parts: its jobs, its seeded plan of kills and restarts, and the
server it kills and restarts while it watches the jobs in the database."""

from __future__ import annotations

import dataclasses
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support import jobdb
from tests.support.processes import Seen, Workers
from tests.support.server import Server

WORKER_KILLS = 6
SERVER_KILLS = 4
CLEAN_RESTARTS = 3
MAX_LOST = 2
"""Workers a job may lose here: a third lost worker fails a job by design."""
SOAK_TIMEOUT_S = 420.0
"""Bound on the whole soak, kills and waiting for the jobs included."""
TARGET_WAIT_S = 120.0
"""How long an action waits for a job to reach its point."""
STUCK_VALIDATING_S = 30.0
STALL_S = 120.0
"""No job changes status or step for this long: something is stuck."""


@dataclasses.dataclass
class SoakJob:
    """One job of the soak: how it is created, and what became of it."""

    label: str
    dialect: str
    status: Callable[[httpx.Client, str], str]
    """The job's status as its dialect reports it, from the id the dialect answered."""
    create: Callable[[httpx.Client], str]
    """Creates the job through its dialect; returns the id the dialect answered."""
    wire_id: str = ""
    id: str = ""
    """The job's id in the database (its folder under <data-dir>/jobs)."""
    lost: int = 0
    """Workers this job lost to the soak's SIGKILLs."""


@dataclasses.dataclass(frozen=True)
class Action:
    """One step of the plan: `worker` / `server` (SIGKILL) or `restart` (SIGTERM)."""

    kind: str
    at: float
    """When: the share of its steps the running job has done; 0 acts as soon as a worker
    is there (so it dies loading the model or resuming)."""
    submit: str | None = None
    """A job to create first; the action then comes the moment that job is being validated
    (or `wait` seconds later if validation was missed), whatever is running."""
    wait: float = 0.0


def _point(rng: random.Random) -> float:
    return 0.0 if rng.random() < 0.2 else round(rng.uniform(0.15, 0.9), 2)


def make_plan(rng: random.Random, late: list[str]) -> list[Action]:
    """10 kills in a seeded order, a clean restart after 3 of them, each at a seeded point of
    the running job's progress; the `late` jobs are created just before the first server
    kill and the first clean restart, which come while they are being validated."""
    kinds = ["server"] * SERVER_KILLS + ["worker"] * WORKER_KILLS
    rng.shuffle(kinds)
    restarts_after = set(rng.sample(range(1, len(kinds)), CLEAN_RESTARTS))
    plan: list[Action] = []
    for index, kind in enumerate(kinds, start=1):
        plan.append(Action(kind, _point(rng)))
        if index in restarts_after:
            plan.append(Action("restart", _point(rng)))
    for kind, label in zip(("server", "restart"), late, strict=True):
        first = next(i for i, a in enumerate(plan) if a.kind == kind)
        plan[first] = Action(kind, 0.0, submit=label, wait=round(rng.uniform(1.0, 2.0), 2))
    return plan


class Soak:
    """The server (restarted as the plan says), the jobs, and a log of what was done."""

    def __init__(self, data_dir: Path, workers: Workers) -> None:
        self.data_dir = data_dir
        self.db = data_dir / "tuneyard.db"
        self.workers = workers
        self.started = time.monotonic()
        self.log: list[str] = []
        self.kills: Counter[str] = Counter()
        self.server_exits: list[int] = []
        self.orphans: list[tuple[Seen, float]] = []
        """Workers of a SIGKILLed server, with when it died."""
        self.server = self._serve()

    def _serve(self) -> Server:
        return Server(self.data_dir, "--max-running-jobs", "1")

    def note(self, message: str) -> None:
        """Log one line, stamped with the soak's clock."""
        line = f"[{time.monotonic() - self.started:7.2f}s] {message}"
        self.log.append(line)
        print(line, flush=True)

    def rows(self) -> dict[str, jobdb.JobRow]:
        """The jobs in the database now."""
        return jobdb.jobs(self.db)

    def create(self, job: SoakJob) -> None:
        """Create `job` through its dialect and find its database id."""
        before = set(self.rows())
        job.wire_id = job.create(self.server.client)
        (job.id,) = set(self.rows()) - before
        self.note(f"created {job.label} ({job.dialect} id {job.wire_id}, job {job.id})")

    def running(self, jobs: list[SoakJob]) -> list[SoakJob]:
        """Jobs that hold a worker (or a claim on one) according to the database."""
        rows = self.rows()
        return [j for j in jobs if j.id and rows[j.id].status in jobdb.ACTIVE]

    def reach(self, jobs: list[SoakJob], action: Action) -> tuple[SoakJob, Seen] | None:
        """Wait until a job is training past the action's point (for a kill, a job that may
        still lose a worker); the job and its worker (None if none got there in time)."""
        deadline = time.monotonic() + TARGET_WAIT_S
        while time.monotonic() < deadline:
            rows = self.rows()
            workers = {w.job_id: w for w in self.workers.children_of(self.server.process.pid)}
            for job in jobs:
                row = rows.get(job.id)
                if row is None or row.status != "running" or job.id not in workers:
                    continue
                if job.lost >= MAX_LOST and action.kind != "restart":
                    continue  # a clean restart costs no attempt
                done = (row.step or 0) / row.total_steps if row.total_steps else 0.0
                if action.at == 0 or done >= action.at:
                    return job, workers[job.id]
            time.sleep(0.1)
        self.note(f"nothing reached {action}")
        return None

    def act(self, jobs: list[SoakJob], action: Action) -> None:
        """Carry out one action of the plan."""
        reached: tuple[SoakJob, Seen] | None = None
        if action.submit is not None:
            job = next(j for j in jobs if j.label == action.submit)
            self.create(job)
            deadline = time.monotonic() + action.wait
            while self.rows()[job.id].status != "validating" and time.monotonic() < deadline:
                time.sleep(0.01)
        else:
            reached = self.reach(jobs, action)
        if action.kind == "worker":
            if reached is not None:
                self.kill_worker(*reached)
        elif action.kind == "server":
            if reached is not None or action.submit is not None:
                self.kill_server(jobs)
        elif action.kind == "restart":
            self.restart(jobs)

    def kill_worker(self, job: SoakJob, worker: Seen) -> None:
        """SIGKILL one job's worker."""
        row = self.rows()[job.id]
        if self.workers.kill(worker):
            job.lost += 1
            self.kills["worker"] += 1
            self.note(
                f"SIGKILL worker {worker.pid} of {job.label} at step "
                f"{row.step}/{row.total_steps} (lost {job.lost})"
            )

    def kill_server(self, jobs: list[SoakJob]) -> None:
        """SIGKILL the server (its workers are not told); a new one starts at once."""
        pid = self.server.process.pid
        children = self.workers.children_of(pid)
        self.server.kill()
        died = time.monotonic()
        self.kills["server"] += 1
        rows = self.rows()  # frozen now: nobody writes until the next server starts
        hit = [j for j in jobs if j.id and rows[j.id].status in jobdb.ACTIVE]
        for job in hit:
            job.lost += 1
        states = {j.label: (rows[j.id].status, rows[j.id].step) for j in jobs if j.id}
        self.orphans += [(w, died) for w in children]
        self.note(
            f"SIGKILL server {pid}; its workers {[w.pid for w in children]}; "
            f"lost a worker: {[j.label for j in hit]}; jobs {states}"
        )
        self.server = self._serve()
        self.note(f"server {self.server.process.pid} up")

    def restart(self, jobs: list[SoakJob]) -> None:
        """SIGTERM the server (it requeues its running jobs) and start a new one."""
        rows = self.rows()
        states = {j.label: (rows[j.id].status, rows[j.id].step) for j in jobs if j.id}
        pid = self.server.process.pid
        status = self.server.interrupt(sig=signal.SIGTERM)
        self.server_exits.append(status)
        self.kills["restart"] += 1
        self.note(f"SIGTERM server {pid} (exit {status}); jobs {states}")
        self.server = self._serve()
        self.note(f"server {self.server.process.pid} up")

    def wait_until_settled(self, jobs: list[SoakJob]) -> dict[str, jobdb.JobRow]:
        """Wait for every job to be terminal; fail early on a job stuck validating or on a
        soak where nothing moves."""
        last_change = time.monotonic()
        seen: dict[str, tuple[str, int | None]] = {}
        early: dict[str, float] = {}
        while True:
            rows = self.rows()
            now = time.monotonic()
            state = {j.label: (rows[j.id].status, rows[j.id].step) for j in jobs}
            if state != seen:
                seen, last_change = state, now
            if all(s in jobdb.TERMINAL for s, _ in state.values()):
                return rows
            for label, (status, _) in state.items():
                if status in ("created", "validating"):
                    early.setdefault(label, now)
                    stuck_for = now - early[label]
                    assert stuck_for < STUCK_VALIDATING_S, f"{label} stuck {status}: {state}"
                else:
                    early.pop(label, None)
            assert now - last_change < STALL_S, f"no job moved for {STALL_S} s: {state}"
            assert now - self.started < SOAK_TIMEOUT_S, f"soak over time: {state}"
            time.sleep(0.5)

    def diagnostics(self, jobs: list[SoakJob]) -> str:
        """Server logs, each job's events and the end of its worker.log."""
        parts = []
        for log in sorted(self.data_dir.glob("server-*.log"), key=lambda p: p.stat().st_mtime):
            parts.append(f"===== {log.name}\n{log.read_text(errors='replace')[-6000:]}")
        for job in jobs:
            if not job.id:
                continue
            events = "\n".join(jobdb.events(self.db, job.id))
            parts.append(f"===== events of {job.label} ({job.id})\n{events}")
            worker_log = self.data_dir / "jobs" / job.id / "worker.log"
            if worker_log.exists():
                tail = worker_log.read_text(errors="replace")[-3000:]
                parts.append(f"===== worker.log of {job.label}\n{tail}")
        return "\n".join(parts)
