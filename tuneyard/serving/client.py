"""The API server's side of inference: the `Inference` port, and `WorkerClient`, which runs
`python -m tuneyard.serving` as a child process and talks `tuneyard.serving.protocol` to it.

Torch-free: the server never loads a model. The worker starts on the first request, stops
after `idle_seconds` without one, and starts again on the next; a worker that dies fails
the requests it held (InferenceUnavailable: never a hang) and the next request starts a
new one. At most `max_queued` requests are outstanding at once; one more is Overloaded
(429 with Retry-After). A consumer that stops reading a reply early (its client went
away) closes the reply's iterator, and the worker is told to drop the request.

`tuneyard.serving.fake.FakeInference` is the in-process fake of the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import IO, Protocol

from tuneyard import errors
from tuneyard.serving import protocol

__all__ = ["Inference", "WorkerClient", "error_of"]

log = logging.getLogger(__name__)

_LINE_LIMIT = 1 << 24
"""The longest event line read from the worker (a classify answer for many inputs)."""


class Inference(Protocol):
    """Where the API sends chat and classification requests."""

    def generate(self, request: protocol.Generate) -> AsyncGenerator[protocol.Event, None]:
        """The request's events in order: Accepted, Token and Finished events, Done last.
        A worker Error is raised as its typed error (`error_of`), before any event or
        in the middle; Overloaded when `max_queued` requests are already outstanding;
        InferenceUnavailable when the worker dies. Closing the iterator before Done
        cancels the request."""
        ...

    async def classify(self, request: protocol.Classify) -> protocol.Labels:
        """The labels of every input; the errors of `generate`."""
        ...

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered in full, cancelled or failed."""
        ...

    async def aclose(self) -> None:
        """Stop the worker (requests still outstanding fail with InferenceUnavailable)."""
        ...


def error_of(event: protocol.Error) -> errors.TuneyardError:
    """The typed error for a worker's Error event (the one place its codes are mapped)."""
    if event.code == "context_length_exceeded":
        return errors.ContextLengthExceeded(event.message, param="messages")
    if event.code == "invalid_request":
        return errors.InvalidRequest(event.message)
    log.warning("inference request %s failed: %s: %s", event.id, event.code, event.message)
    if event.code == "model_not_found":  # the worker's message names server paths
        return errors.ServedModelNotFound(
            "The model's weights are missing or unreadable on the server.", param="model"
        )
    return errors.InferenceFailed("The inference engine failed on this request.")


@dataclasses.dataclass(eq=False)
class _Worker:
    """One worker process and the requests it holds."""

    process: asyncio.subprocess.Process
    loop: asyncio.AbstractEventLoop
    ids: set[str] = dataclasses.field(default_factory=set)
    """The requests sent to it and not yet released."""
    reader: asyncio.Task[None] | None = None
    watcher: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def send(self, record: protocol.Request) -> None:
        """Write one request line (buffered; drained by the caller when it can wait)."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            raise ConnectionResetError("the worker's stdin is closed")
        stdin.write((protocol.encode(record) + "\n").encode())


_Item = protocol.Event | errors.TuneyardError


class WorkerClient:
    """The `Inference` port over a `python -m tuneyard.serving` child process."""

    def __init__(
        self,
        *,
        threads: int = 1,
        max_loaded_adapters: int = 8,
        max_running: int = 64,
        max_queued: int = 64,
        idle_seconds: float = 300.0,
        python: str = sys.executable,
        module: str = "tuneyard.serving",
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        stop_seconds: float = 10.0,
    ) -> None:
        self.threads = threads
        self.max_loaded_adapters = max_loaded_adapters
        self.max_running = max_running
        """Sequences the worker decodes at once (`--max-running`; the deployable slots)."""
        self.max_queued = max_queued
        self.idle_seconds = idle_seconds
        self.python = python
        self.module = module
        """The worker's module (tests run a scripted worker through the same plumbing)."""
        self.env = dict(os.environ if env is None else env)
        self.env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
        self.env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.log_path = log_path
        """Where the worker's stderr goes (appended); None: the server's own stderr."""
        self.stop_seconds = stop_seconds
        self.starts = 0
        """How many workers this client has started (a restart counts)."""
        self._worker: _Worker | None = None
        self._queues: dict[str, asyncio.Queue[_Item]] = {}
        self._outstanding = 0
        self._last_used = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock = asyncio.Lock()

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered in full, cancelled or failed."""
        return self._outstanding

    @property
    def pid(self) -> int | None:
        """The running worker's process id, or None when none runs."""
        worker = self._worker
        return worker.process.pid if worker is not None and worker.alive else None

    async def generate(self, request: protocol.Generate) -> AsyncGenerator[protocol.Event, None]:
        """See `Inference.generate`."""
        async with contextlib.aclosing(self._events(request)) as events:
            async for event in events:
                yield event

    async def classify(self, request: protocol.Classify) -> protocol.Labels:
        """See `Inference.classify`."""
        async with contextlib.aclosing(self._events(request)) as events:
            async for event in events:
                if isinstance(event, protocol.Labels):
                    return event
        raise errors.InferenceFailed("the inference worker ended a classify request unanswered")

    async def _events(
        self, request: protocol.Generate | protocol.Classify
    ) -> AsyncGenerator[protocol.Event, None]:
        """A request's events up to its last (`done` or `labels`); a worker error, or the
        worker's failure, is raised as the typed error. Stopping early cancels it."""
        queue = await self._submit(request)
        ended = False
        try:
            while True:
                item = await queue.get()
                if isinstance(item, errors.TuneyardError):
                    ended = True
                    raise item
                if isinstance(item, protocol.Error):
                    ended = True
                    raise error_of(item)
                if isinstance(item, protocol.Done | protocol.Labels):
                    ended = True
                    yield item
                    return
                yield item
        finally:
            self._release(request.id, cancel=not ended)

    async def aclose(self) -> None:
        """Ask the worker to shut down, wait `stop_seconds` for it, then kill it."""
        worker, self._worker = self._worker, None
        if worker is not None and worker.loop is asyncio.get_running_loop():
            await self._stop(worker)
        elif worker is not None:
            _kill(worker.process.pid)

    def kill(self) -> None:
        """Kill the worker at once, from any thread and after its event loop is gone
        (the server's last resort when it stops)."""
        worker, self._worker = self._worker, None
        if worker is not None and worker.process.returncode is None:
            _kill(worker.process.pid)

    # -- requests ----------------------------------------------------------------------
    async def _submit(self, request: protocol.Generate | protocol.Classify) -> asyncio.Queue[_Item]:
        self._own_loop()
        if self._outstanding >= self.max_queued:
            raise errors.Overloaded(
                f"{self.max_queued} requests are already waiting for the inference engine; "
                "retry shortly.",
                retry_after=1,
            )
        if request.id in self._queues:
            raise ValueError(f"request id {request.id} is already outstanding")
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._queues[request.id] = queue
        self._outstanding += 1
        self._last_used = asyncio.get_running_loop().time()
        try:
            worker = await self._started()
            worker.ids.add(request.id)
            worker.send(request)
            stdin = worker.process.stdin
            if stdin is not None:
                await stdin.drain()
        except (OSError, RuntimeError) as exc:
            self._release(request.id, cancel=False)
            raise errors.InferenceUnavailable(
                f"The inference engine could not take the request: {exc}"
            ) from exc
        except BaseException:
            self._release(request.id, cancel=False)
            raise
        return queue

    def _release(self, request_id: str, *, cancel: bool) -> None:
        """Forget a request (telling the worker to drop it when `cancel`); synchronous, so
        that it completes even in a cancelled task."""
        if self._queues.pop(request_id, None) is None:
            return
        self._outstanding -= 1
        worker = self._worker
        if worker is not None and request_id in worker.ids:
            worker.ids.discard(request_id)
            if cancel and worker.alive:
                with contextlib.suppress(OSError, RuntimeError):
                    worker.send(protocol.Cancel(id=request_id))
        with contextlib.suppress(RuntimeError):
            self._last_used = asyncio.get_running_loop().time()

    def _own_loop(self) -> None:
        """A worker's pipes belong to the event loop that started it: on another loop
        (a new one, a test's), the old worker is abandoned and a new one starts."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._start_lock = asyncio.Lock()
        self.kill()
        self._queues.clear()  # their consumers ran on the old loop and are gone with it
        self._outstanding = 0

    # -- the process -------------------------------------------------------------------
    async def _started(self) -> _Worker:
        async with self._start_lock:
            worker = self._worker
            if worker is not None and worker.alive:
                return worker
            worker = await self._spawn()
            self._worker = worker
            return worker

    async def _spawn(self) -> _Worker:
        command = [
            self.python,
            "-m",
            self.module,
            "--threads",
            str(self.threads),
            "--max-loaded-adapters",
            str(self.max_loaded_adapters),
            "--max-running",
            str(self.max_running),
            "--parent-pid",  # the worker exits on its own if this server dies
            str(os.getpid()),
        ]
        stderr: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            stderr = self.log_path.open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=self.env,
                limit=_LINE_LIMIT,
                start_new_session=True,  # Ctrl-C reaches the server, which stops it itself
            )
        finally:
            if stderr is not None:
                stderr.close()
        self.starts += 1
        log.info("inference worker started (pid %d)", process.pid)
        worker = _Worker(process=process, loop=asyncio.get_running_loop())
        worker.reader = asyncio.create_task(self._read(worker))
        worker.watcher = asyncio.create_task(self._watch_idle(worker))
        return worker

    async def _read(self, worker: _Worker) -> None:
        """Route each event line to its request's queue until the worker's stdout ends;
        then fail the requests it still held."""
        stdout = worker.process.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                try:
                    event = protocol.decode_event(line.decode("utf-8", "replace"))
                except (ValueError, TypeError, KeyError):
                    log.warning("inference worker wrote a line that is no event: %.200r", line)
                    continue
                queue = self._queues.get(event.id)
                if queue is not None and event.id in worker.ids:
                    queue.put_nowait(event)
        except (OSError, ValueError) as exc:  # a line past the limit, a broken pipe
            log.error("inference worker output unreadable: %s", exc)
            _kill(worker.process.pid)
        try:
            status = await asyncio.wait_for(worker.process.wait(), self.stop_seconds)
        except TimeoutError:  # it closed its stdout but lives on: of no use any more
            _kill(worker.process.pid)
            status = await worker.process.wait()
        if self._worker is worker:
            self._worker = None
        if worker.ids:
            log.error("inference worker exited (status %s) with requests", status)
        gone = f"The inference engine stopped (exit status {status}); retry the request."
        for request_id in list(worker.ids):
            queue = self._queues.get(request_id)
            if queue is not None:
                queue.put_nowait(errors.InferenceUnavailable(gone))
        worker.ids.clear()

    async def _watch_idle(self, worker: _Worker) -> None:
        """Stop the worker once no request has been outstanding for `idle_seconds`."""
        loop = asyncio.get_running_loop()
        while self._worker is worker and worker.alive:
            idle_for = loop.time() - self._last_used
            if self._outstanding == 0 and idle_for >= self.idle_seconds:
                log.info("inference worker idle for %.0f s; stopping it", idle_for)
                self._worker = None
                await self._stop(worker)
                return
            await asyncio.sleep(max(0.05, self.idle_seconds - idle_for))

    async def _stop(self, worker: _Worker) -> None:
        """Shutdown, then EOF; kill it if it has not exited after `stop_seconds`."""
        with contextlib.suppress(OSError, RuntimeError):
            worker.send(protocol.Shutdown())
            stdin = worker.process.stdin
            if stdin is not None:
                stdin.close()
        try:
            await asyncio.wait_for(worker.process.wait(), self.stop_seconds)
        except TimeoutError:
            log.warning("inference worker did not stop in %.0f s; killing it", self.stop_seconds)
            _kill(worker.process.pid)
            await worker.process.wait()
        if worker.watcher is not None and worker.watcher is not asyncio.current_task():
            worker.watcher.cancel()
        if worker.reader is not None:  # it fails the requests the worker still held
            await asyncio.wait({worker.reader}, timeout=self.stop_seconds)


def _kill(pid: int) -> None:
    """SIGKILL the worker's process group (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
