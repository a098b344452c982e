"""The progress events carry what the console's charts draw: the smoothed loss, the step's
own loss and the learning rate the step used."""

from __future__ import annotations

import io
import json

import torch

from tuneyard.core import protocol
from tuneyard.trainer import report


def test_progress_carries_the_raw_loss_and_the_learning_rate() -> None:
    stream = io.StringIO()
    reporter = report.Reporter(stream, clock=iter(range(100)).__next__, interval_s=0.0)
    reporter.start(total_steps=2, total_epochs=1, work=[1.0, 1.0])
    reporter.step(1, 1, torch.tensor(2.0), 10, lr=1e-4)
    reporter.step(2, 1, torch.tensor(1.0), 10, lr=5e-5)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    progress = [line for line in lines if line["event"] == "progress"]
    assert [p["raw_loss"] for p in progress] == [2.0, 1.0]
    assert [p["lr"] for p in progress] == [1e-4, 5e-5]
    assert progress[1]["loss"] != 1.0  # the smoothed one lags behind the raw one


def test_older_workers_lines_without_them_still_read() -> None:
    line = json.dumps(
        {
            "event": "progress", "step": 1, "total_steps": 2, "epoch": 1, "total_epochs": 1,
            "loss": 1.0, "tokens_per_s": 1.0, "trained_tokens": 1, "elapsed_s": 0.1,
        }
    )  # fmt: skip
    event = protocol.decode(line)
    assert isinstance(event, protocol.Step) and event.raw_loss is None and event.lr is None
    assert "raw_loss" not in protocol.fields(event) and "lr" not in protocol.fields(event)
