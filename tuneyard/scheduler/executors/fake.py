"""A scripted executor for tests: workers replay a list of protocol events (as the JSON
objects a worker writes, so a script can also send lines the protocol reads tolerantly)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tuneyard.core import protocol
from tuneyard.core.jobs import TrainingSpec

__all__ = ["KILLED", "FakeExecutor", "FakeWorker", "successful_run"]

Script = Callable[[TrainingSpec], Sequence[dict[str, Any]]]

KILLED = "_killed"
"""A script entry (not a protocol event) that ends the worker as SIGKILL would: exit -9."""


def successful_run(spec: TrainingSpec) -> list[dict[str, Any]]:
    """The events of a short run that succeeds."""
    epochs = spec.hyperparameters.n_epochs
    return [
        {
            "event": "data",
            "rows": 100,
            "conversations": 50,
            "tokens": 5000,
            "labels": None,
            "total_steps": 2 * epochs,
            "total_epochs": epochs,
        },
        *[
            {
                "event": "progress",
                "step": s,
                "total_steps": 2 * epochs,
                "epoch": (s + 1) // 2,
                "total_epochs": epochs,
                "loss": 2.0 / s,
                "tokens_per_s": 1000.0,
                "trained_tokens": 500 * s,
                "elapsed_s": 0.1 * s,
                "estimated_time_s": 1,
            }
            for s in range(1, 2 * epochs + 1)
        ],
        {"event": "saved", "path": spec.output_dir, "format": "peft"},
        {"event": "succeeded", "trained_tokens": 1000 * epochs, "train_loss": 0.1},
    ]


class FakeWorker:
    """Replays events; `hold` keeps it 'running' until released, terminated or killed."""

    def __init__(self, events: Sequence[dict[str, Any]], *, hold: bool) -> None:
        self.events = list(events)
        self.released = threading.Event()
        if not hold:
            self.released.set()
        self.terminated = False
        self.paused = False
        self.last_step = 0
        self.killed = False
        self.exit_code: int | None = None
        self.done = threading.Event()

    def lines(self) -> Iterator[str]:
        """Replay, pausing before the final event while held."""
        final_kinds = ("succeeded", "failed", "cancelled")
        for event in self.events:
            if event["event"] == KILLED:
                self.killed = True
                break
            if event["event"] in final_kinds:
                self.released.wait()
                if self.killed:
                    break
                if self.terminated:
                    yield protocol.encode(protocol.Cancelled(step=0))
                    self.exit_code = protocol.EXIT_CANCELLED
                    break
                if self.paused:
                    yield protocol.encode(protocol.Paused(step=self.last_step))
                    self.exit_code = protocol.EXIT_PAUSED
                    break
            if event["event"] == "progress":
                self.last_step = int(event["step"])
            yield json.dumps(event, ensure_ascii=False, allow_nan=False)
            if event["event"] in final_kinds:
                codes = {"succeeded": protocol.EXIT_OK, "failed": protocol.EXIT_FAILED}
                self.exit_code = codes.get(event["event"], protocol.EXIT_CANCELLED)
        if self.exit_code is None:
            self.exit_code = -9 if self.killed else 0
        self.done.set()

    def release(self) -> None:
        """Let a held worker finish its script."""
        self.released.set()

    def pause(self) -> None:
        """Behave like SIGUSR1: stop at the next boundary with `paused`."""
        self.paused = True
        self.released.set()

    def terminate(self) -> None:
        """Behave like SIGTERM: stop at the next boundary with `cancelled`."""
        self.terminated = True
        self.released.set()

    def kill(self) -> None:
        """Behave like SIGKILL: stop with no final event."""
        self.killed = True
        self.released.set()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status once the script has played."""
        return self.exit_code if self.done.wait(timeout) else None

    def log_tail(self) -> str:
        """A fake log."""
        return "fake worker log\n"


class FakeExecutor:
    """Launches FakeWorkers from a script; `launched` records them for assertions."""

    def __init__(self, script: Script = successful_run, *, hold: bool = False) -> None:
        self.script = script
        self.hold = hold
        self.launched: list[tuple[TrainingSpec, FakeWorker]] = []

    def launch(self, spec: TrainingSpec) -> FakeWorker:
        """Start a scripted worker."""
        worker = FakeWorker(self.script(spec), hold=self.hold)
        self.launched.append((spec, worker))
        return worker
