"""This machine's calibration for the estimate, measured once and cached.

`machine(data_dir)` returns the `core.estimate.Machine` cached in
`<data-dir>/calibration.json` when its key still matches this machine — CPU model, cores
this process may use, torch's version and the accelerator — and otherwise measures it
again in a fresh worker-like process (`python -m tuneyard.trainer.calibrate`, a few
seconds) and caches that. Imports no torch: the server keys and reads the cache alone.

A calibration belongs to the machine, not to a data dir: the server also keeps it in a
cache shared by every data dir of the user (`shared_cache()`: `$TUNEYARD_CALIBRATION_CACHE`,
else `$XDG_CACHE_HOME/tuneyard/calibration.json`, else `~/.cache/tuneyard/…`), so a new
data dir on a calibrated machine starts calibrated, and servers starting together measure
once (the first takes a lock on it; the others wait for its result).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from tuneyard import cpuinfo as cpuinfo_of
from tuneyard.core import estimate
from tuneyard.scheduler.executors.local import ALLOCATOR_ENV

__all__ = [
    "CACHE",
    "ISA_UNITS",
    "METHOD",
    "Calibration",
    "busy_now",
    "key",
    "machine",
    "shared_cache",
]

CACHE = "calibration.json"
"""The cache's file name in the data dir."""


def key(cpuinfo: str | None = None) -> str:
    """What a calibration depends on: CPU model and its vector and matrix units (machines
    sold under one model name differ: some have AVX-512 and native bf16, some only AVX2),
    usable cores, torch version, how it is measured (`METHOD`), accelerator. `cpuinfo`:
    /proc/cpuinfo's text (default: read it)."""
    if cpuinfo is None:
        cpuinfo = cpuinfo_of.text()
    cpu = cpuinfo_of.model_name(cpuinfo) or platform.machine()
    flags = cpuinfo_of.flags(cpuinfo)
    units = "+".join(unit for unit in ISA_UNITS if unit in flags) or "base"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        torch = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch = "none"
    gpus = sorted(p.name for p in Path("/dev").glob("nvidia[0-9]*"))
    device = f"cuda x{len(gpus)}" if gpus else "cpu"
    return f"{cpu} | {units} | {cores} cores | torch {torch} | method {METHOD} | {device}"


METHOD = 4
"""The calibration's own version: a cache measured the way an older tuneyard measured is
measured again (2: GEMMs on operands out of cache, and under bf16 where native; 3: the
trainer's own step timed on probe models, `trainer.probe`; 4: AdamW over a model-like set
of tensors out of cache)."""


ISA_UNITS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "sve")
"""CPU flags that change the machine's GEMM rates and dtype choice, named in its key."""


def busy_now() -> float:
    """The 1-minute load average per core this process may use (0 where unknown)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        return os.getloadavg()[0] / max(1, cores or 1)
    except OSError:
        return 0.0


def shared_cache() -> Path:
    """Where the user's data dirs share this machine's calibration (see the module)."""
    named = os.environ.get("TUNEYARD_CALIBRATION_CACHE")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tuneyard" / CACHE


def measure(machine_key: str) -> estimate.Machine:
    """Run the calibration in a fresh process, as a worker would run (its allocator too)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for name, value in ALLOCATOR_ENV.items():
        env.setdefault(name, value)
    done = subprocess.run(
        [sys.executable, "-m", "tuneyard.trainer.calibrate", machine_key],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    return estimate.Machine.from_dict(json.loads(done.stdout.strip().splitlines()[-1]))


class Calibration:
    """The cached calibration of one data dir. Called with True it returns it, measuring
    first when the cache is missing or its key changed; with False it never waits: None
    while a measurement runs (one is started in the background if none is)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        key_of: Callable[[], str] = key,
        measure_with: Callable[[str], estimate.Machine] | None = None,
        shared: Path | None = None,
        busy_of: Callable[[], float] = busy_now,
    ) -> None:
        self.path = Path(data_dir) / CACHE
        self.shared = shared
        """A cache shared with other data dirs (`shared_cache()`), or None for none."""
        self._key = key_of
        self._measure = measure_with or (lambda machine_key: measure(machine_key))
        self._machine: estimate.Machine | None = None
        self._lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._busy_of = busy_of
        self._remeasured = False
        """Whether a calibration taken on a busy machine was measured again (once)."""

    def __call__(self, wait: bool = True) -> estimate.Machine | None:
        """This machine's calibration (see the class). One measured while the machine was
        busy (`estimate.BUSY`) is used as it is, and measured again in the background once
        the machine is quiet (once per process)."""
        found = self._call(wait)
        if found is not None:
            self._remeasure_if_quiet(found)
        return found

    def _call(self, wait: bool) -> estimate.Machine | None:
        if not wait:
            if self._lock.acquire(blocking=False):
                try:
                    found = self._cached()
                    if found is None and self._background is None:
                        self._background = threading.Thread(
                            target=self.get, name="calibration", daemon=True
                        )
                        self._background.start()
                    return found
                finally:
                    self._lock.release()
            return None
        return self.get()

    def _remeasure_if_quiet(self, found: estimate.Machine) -> None:
        if self._remeasured or found.busy <= estimate.BUSY or self._busy_of() > estimate.BUSY:
            return
        self._remeasured = True
        threading.Thread(target=self._measure_again, name="calibration", daemon=True).start()

    def _measure_again(self) -> None:
        try:
            self.measure_again()
        except Exception:  # the busy calibration stays in use
            return

    def measure_again(self) -> estimate.Machine:
        """Measure now (unless another process just has, quietly) and cache it, keeping the
        busy one in use until it is done. What the server does in the background once the
        machine is quiet; a benchmark calls it before timing anything."""
        with _exclusive(self.shared):
            wanted = self._key()
            fresh = _read(self.shared) if self.shared is not None else None
            if fresh is None or fresh.key != wanted or fresh.busy > estimate.BUSY:
                fresh = self._measure(wanted)  # (another process may have just done it)
            for path in (self.path, self.shared):
                if path is not None:
                    _write(path, fresh)
        self._remeasured = True
        self._machine = fresh
        return fresh

    def get(self) -> estimate.Machine:
        """This machine's calibration: cached, or measured now (and cached)."""
        with self._lock:
            try:
                found = self._cached()
                if found is None:
                    with _exclusive(self.shared):  # servers starting together measure once
                        found = self._cached() or self._measure(self._key())
                        for path in (self.path, self.shared):
                            if path is not None:
                                _write(path, found)
                    self._machine = found
                return found
            finally:
                self._background = None  # a failed measurement is tried again next time

    def cached(self) -> estimate.Machine | None:
        """The calibration if one is cached for this machine (nothing is measured)."""
        with self._lock:
            return self._cached()

    def _cached(self) -> estimate.Machine | None:
        """The calibration in memory or in the cache file, if its key is this machine's."""
        wanted = self._key()
        if self._machine is not None and self._machine.key == wanted:
            return self._machine
        for path in (self.path, self.shared):
            found = _read(path) if path is not None else None
            if found is not None and found.key == wanted:
                if path is not self.path:
                    _write(self.path, found)
                self._machine = found
                return found
        return None


def machine(data_dir: Path) -> estimate.Machine:
    """This machine's calibration, cached under `data_dir` and in `shared_cache()`."""
    return Calibration(data_dir, shared=shared_cache()).get()


@contextlib.contextmanager
def _exclusive(shared: Path | None) -> Iterator[None]:
    """Hold an exclusive lock beside the shared cache (nothing without one, or where the
    cache's folder cannot be written: then each server measures for itself)."""
    if shared is None:
        yield
        return
    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        handle = open(shared.with_name(shared.name + ".lock"), "a")  # noqa: SIM115
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path) -> estimate.Machine | None:
    try:
        return estimate.Machine.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, found: estimate.Machine) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    staging.write_text(json.dumps(found.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(staging, path)
