"""Watching the training workers of one data dir: which are alive, whose children they
are, whether two ever train the same job at once, and how long any outlived its server.

A worker is a `python -m tuneyard.trainer <data-dir>/jobs/<job id>/spec.json` process.
A background thread scans the process table, so a worker re-parented after its server was
SIGKILLed is still found (it is matched by its command line, not by its parent).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from pathlib import Path

import psutil


@dataclasses.dataclass
class Seen:
    """One worker process as the scans saw it."""

    pid: int
    created: float
    job_id: str
    parent: int
    """The parent when first seen: the server that launched it."""
    first: float
    last: float
    """monotonic time of the last scan that found it alive."""


@dataclasses.dataclass(frozen=True)
class Overlap:
    """Two or more live workers training the same job at one scan."""

    at: float
    job_id: str
    workers: tuple[tuple[int, int], ...]
    """(pid, parent pid) of each."""


class Workers:
    """Every trainer process working under `data_dir`, scanned every `interval` seconds."""

    def __init__(
        self,
        data_dir: Path,
        interval: float = 0.2,
        *,
        modules: tuple[str, ...] = ("tuneyard.trainer",),
    ) -> None:
        self.jobs_dir = str(data_dir.resolve() / "jobs") + "/"
        self.modules = modules
        """The worker modules (`python -m MODULE SPEC …`) that count as workers."""
        self.interval = interval
        self.seen: dict[tuple[int, float], Seen] = {}
        self.overlaps: list[Overlap] = []
        self._processes: dict[tuple[int, float], psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-workers", daemon=True)

    def __enter__(self) -> Workers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.scan()
            self._stop.wait(self.interval)

    def _job_of(self, cmdline: list[str]) -> str | None:
        if len(cmdline) < 4 or cmdline[1] != "-m" or cmdline[2] not in self.modules:
            return None
        spec = cmdline[3]
        if not spec.startswith(self.jobs_dir):
            return None
        return Path(spec).parent.name

    def scan(self) -> list[Seen]:
        """The live workers now (zombies count as gone); records overlaps."""
        now = time.monotonic()
        live: list[Seen] = []
        for process in psutil.process_iter(["cmdline", "create_time", "ppid", "status"]):
            info = process.info
            job_id = self._job_of(info.get("cmdline") or [])
            if job_id is None or info.get("status") in (psutil.STATUS_ZOMBIE, None):
                continue
            key = (process.pid, float(info["create_time"]))
            with self._lock:
                entry = self.seen.get(key)
                if entry is None:
                    entry = Seen(process.pid, key[1], job_id, int(info["ppid"]), now, now)
                    self.seen[key] = entry
                    self._processes[key] = process
                entry.last = now
            live.append(entry)
        by_job: dict[str, list[tuple[int, int]]] = {}
        for entry, parent in ((e, self._parent(e)) for e in live):
            by_job.setdefault(entry.job_id, []).append((entry.pid, parent))
        with self._lock:
            for job_id, workers in by_job.items():
                if len(workers) > 1:
                    self.overlaps.append(Overlap(now, job_id, tuple(workers)))
        return live

    def _parent(self, entry: Seen) -> int:
        try:
            return int(self._processes[(entry.pid, entry.created)].ppid())
        except psutil.Error:
            return -1

    def children_of(self, server_pid: int) -> list[Seen]:
        """The live workers whose parent is `server_pid`."""
        return [e for e in self.scan() if self._parent(e) == server_pid]

    def kill(self, entry: Seen) -> bool:
        """SIGKILL one worker; False when it had already exited."""
        process = self._processes[(entry.pid, entry.created)]
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            return False
        return True

    def alive(self) -> list[Seen]:
        """Every worker ever seen that is still running (not a zombie)."""
        found = []
        for key, process in list(self._processes.items()):
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(self.seen[key])
            except psutil.NoSuchProcess:
                continue
        return found

    def kill_all(self) -> list[Seen]:
        """SIGKILL every worker still alive (test cleanup); the ones it had to kill."""
        killed = [e for e in self.alive() if self.kill(e)]
        return killed
