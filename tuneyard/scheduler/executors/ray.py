"""The Ray executor: each job's worker runs in a Ray actor on whichever node has room.

`--executor ray --ray-address ADDRESS` connects this server to a Ray cluster as a driver
(on first launch) and starts one actor per job, scheduled with the CPUs, GPUs and memory
the job needs (`tuneyard.scheduler.executors.resources`). The actor
(`tuneyard.scheduler.executors.node.NodeWorker`) runs the same trainer subprocess as the
local executor on its node and buffers its protocol lines; the `RayWorker` handle here
polls them back, so the scheduler sees a worker exactly like a local one. Pause, cancel
and kill are actor calls that signal the subprocess.

A lost worker: when the actor or its node dies (the raylet is killed, the machine goes
away), Ray fails the handle's pending call with an actor error; `lines()` then ends and
`wait()` returns -SIGKILL, so the scheduler requeues the job as it does a killed local
worker, and the next launch may land on another node. Actors are never restarted by Ray:
the scheduler decides what runs again. Actors belong to this driver, so they (and, through
the trainer's lifeline, their trainers) die with the server.

Ray is imported only here and only when the first job is launched; without the `ray` extra
the executor refuses to be built, with the command that installs it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import tuneyard
from tuneyard import errors
from tuneyard.core.jobs import TrainingSpec
from tuneyard.scheduler.executors import node, resources

__all__ = ["FORWARDED_PREFIXES", "RayExecutor", "RayWorker"]

log = logging.getLogger(__name__)

FORWARDED_PREFIXES = ("TUNEYARD_OBJECT_STORAGE_", "AWS_", "HF_", "TRANSFORMERS_")
"""Server environment variables passed on to every worker (object storage credentials,
Hugging Face settings); the rest of a worker's environment is its node's."""

_POLL_S = 1.0
"""How long one `read` call waits on the node for a new line."""
_UNAVAILABLE_GRACE_S = 30.0
"""How long an actor Ray reports as temporarily unreachable may stay so before it counts
as lost."""
_CALL_TIMEOUT_S = 15.0
"""How long a call to a live actor may take (it answers at once) before it is given up."""
_KILL_GRACE_S = 5.0
"""How long a killed trainer's actor has to report its exit before the actor is killed."""
LOST = -signal.SIGKILL
"""The exit status of a worker whose actor or node died: a killed worker's."""


def _import_ray() -> Any:
    import ray

    return ray


class RayWorker:
    """One job's actor, seen as a worker: its lines, its signals, its exit status."""

    def __init__(self, ray: Any, actor: Any, job_id: str) -> None:
        self._ray = ray
        self._actor = actor
        self.job_id = job_id
        self._status: int | None = None
        self._tail = ""
        self._lock = threading.Lock()

    def lines(self) -> Iterator[str]:
        """Protocol lines as the node buffers them, until the trainer closes its stdout or
        the actor is lost."""
        cursor = 0
        announced = False
        unavailable_since: float | None = None
        while self._status is None:
            try:
                batch, done = self._ray.get(self._actor.read.remote(cursor, _POLL_S))
            except self._ray.exceptions.ActorUnavailableError as exc:
                unavailable_since = unavailable_since or time.monotonic()
                if time.monotonic() - unavailable_since < _UNAVAILABLE_GRACE_S:
                    time.sleep(_POLL_S)
                    continue
                self._lose(exc)
                return
            except self._ray.exceptions.RayError as exc:
                self._lose(exc)
                return
            unavailable_since = None
            if not announced:
                announced = True
                self._announce()
            yield from batch
            cursor += len(batch)
            if done:
                return

    def pause(self) -> None:
        """Ask the trainer (SIGUSR1) to checkpoint at its next step boundary and exit."""
        self._tell("pause")

    def terminate(self) -> None:
        """Ask the trainer (SIGTERM) to stop at its next step boundary."""
        self._tell("terminate")

    def kill(self) -> None:
        """SIGKILL the trainer; if the job is not settled `_KILL_GRACE_S` later (its actor
        does not answer, or is not even placed yet), kill the actor (the trainer follows it
        through its lifeline). Never blocks: the scheduler calls it from its tick."""
        self._tell("kill")
        timer = threading.Timer(_KILL_GRACE_S, self._force_kill)
        timer.daemon = True
        timer.start()

    def wait(self, timeout: float | None = None) -> int | None:
        """The trainer's exit status (-SIGKILL if its actor or node was lost), or None while
        it runs after `timeout` seconds. Once known, the actor is released."""
        with self._lock:
            if self._status is not None:
                return self._status
        try:
            call = self._actor.wait.remote(timeout)
            grace = None if timeout is None else timeout + _CALL_TIMEOUT_S
            status: int | None = self._ray.get(call, timeout=grace)
        except self._ray.exceptions.GetTimeoutError:
            return None
        except self._ray.exceptions.RayError as exc:
            self._lose(exc)
            return LOST
        if status is None:
            return None
        self._settle(status)
        return status

    def log_tail(self) -> str:
        """The end of the trainer's worker.log (kept from before the actor was released),
        or why there is none."""
        with self._lock:
            if self._status is not None:
                return self._tail
        try:
            return str(self._ray.get(self._actor.log_tail.remote(), timeout=_CALL_TIMEOUT_S))
        except Exception as exc:
            return f"the worker's log could not be read: {exc}"

    # -- helpers -----------------------------------------------------------------------
    def _tell(self, method: str) -> None:
        """Call a signal method without waiting (a lost actor shows in `lines`)."""
        try:
            getattr(self._actor, method).remote()
        except Exception:
            log.warning("could not %s the worker of job %s", method, self.job_id, exc_info=True)

    def _force_kill(self) -> None:
        with self._lock:
            if self._status is not None:
                return
        try:
            self._ray.kill(self._actor, no_restart=True)
        except Exception:
            log.warning("could not kill the actor of job %s", self.job_id, exc_info=True)

    def _announce(self) -> None:
        try:
            where = self._ray.get(self._actor.where.remote(), timeout=_CALL_TIMEOUT_S)
        except Exception:
            return
        log.info(
            "job %s trains on %s (actor pid %s)", self.job_id, where["host"], where["actor_pid"]
        )

    def _settle(self, status: int) -> None:
        """Keep the exit status and log tail, clear the node's scratch folder, free the actor."""
        try:
            tail = str(self._ray.get(self._actor.log_tail.remote(), timeout=_CALL_TIMEOUT_S))
            self._ray.get(self._actor.cleanup.remote(), timeout=_CALL_TIMEOUT_S)
        except Exception as exc:
            tail = f"the worker's log could not be read: {exc}"
        with self._lock:
            if self._status is None:  # the first to settle it (stop() and the watcher may race)
                self._status, self._tail = status, tail
        self._ray.kill(self._actor, no_restart=True)

    def _lose(self, exc: BaseException) -> None:
        """The actor or its node is gone: the worker ends as a killed one would."""
        reason = " ".join(str(exc).split())[:500]
        log.warning("job %s: its Ray worker was lost: %s", self.job_id, reason)
        with self._lock:
            if self._status is None:
                self._status = LOST
                self._tail = f"The Ray worker was lost: {reason}"
        try:
            self._ray.kill(self._actor, no_restart=True)  # if it lives on, unreachable
        except Exception:
            log.debug("the lost actor of job %s could not be killed", self.job_id, exc_info=True)


class RayExecutor:
    """Starts each job's worker as a Ray actor sized for the job (see module docstring)."""

    def __init__(
        self,
        address: str | None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if importlib.util.find_spec("ray") is None:
            raise errors.InvalidRequest(
                "--executor ray needs Ray: pip install 'tuneyard[ray]' (on the server and "
                "on every node)"
            )
        self.address = address or "auto"
        """The cluster's address as `ray.init` takes it ("auto": the one this machine is in)."""
        source = os.environ if env is None else env
        self.env = {k: v for k, v in source.items() if k.startswith(FORWARDED_PREFIXES)}
        self._ray: Any = None
        self._actor_class: Any = None
        self._connect_lock = threading.Lock()

    def launch(self, spec: TrainingSpec) -> RayWorker:
        """Start an actor for `spec` with the resources it needs; returns at once (the
        actor may wait for room in the cluster; its lines come once it runs)."""
        ray = self._connect()
        size = resources.model_size(spec.base_model)
        gpus = ray.cluster_resources().get("GPU", 0) > 0  # nodes come and go
        need = resources.estimate(size, spec.method, spec.hyperparameters, gpu=gpus)
        log.info(
            "job %s asks Ray for %s CPU, %s GPU, %.1f GiB (model of %d parameters)",
            spec.job_id,
            need.cpus,
            need.gpus,
            need.memory_bytes / 2**30,
            size.parameters,
        )
        actor = self._actor_class.options(
            num_cpus=need.cpus,
            num_gpus=need.gpus,
            memory=need.memory_bytes,
            max_restarts=0,
            max_task_retries=0,
            max_concurrency=4,  # a blocking `read` must not hold up `pause` or `kill`
            name=f"tuneyard-{spec.job_id}-{time.time_ns()}",
        ).remote(
            spec.to_dict(),
            env=self.env,
            version=tuneyard.__version__,
        )
        return RayWorker(ray, actor, spec.job_id)

    def _connect(self) -> Any:
        """Join the cluster as a driver, once."""
        with self._connect_lock:
            if self._ray is not None:
                return self._ray
            ray = _import_ray()
            if not ray.is_initialized():
                try:
                    ray.init(
                        address=self.address,
                        namespace="tuneyard",
                        log_to_driver=False,
                        configure_logging=False,
                    )
                except Exception as exc:
                    raise ConnectionError(
                        f"could not connect to the Ray cluster at {self.address}: {exc}"
                    ) from exc
            self._actor_class = ray.remote(node.NodeWorker)
            self._ray = ray
            return ray
