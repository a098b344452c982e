"""The worker protocol: one typed event per kind, encoded and decoded losslessly; the kinds
the trainer emits are exactly the documented ones; checkpoints keep their stored shape."""

from __future__ import annotations

import ast
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import tuneyard.trainer
from tuneyard.core import protocol, recording
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.jobs import Progress

SAMPLES: list[protocol.Event] = [
    protocol.Preparing(stage="model"),
    protocol.Data(
        rows=48,
        conversations=24,
        tokens=960,
        labels=None,
        total_steps=12,
        total_epochs=2,
        validation_examples=3,
        packed=True,
        fused_lora_layers=4,
        hyperparameters={"batch_size": 4, "auto": []},
    ),
    protocol.Resumed(step=5, checkpoint="/w/checkpoints/step-00000005"),
    protocol.Step(
        step=3,
        total_steps=12,
        epoch=1,
        total_epochs=2,
        loss=1.25,
        accuracy=None,
        tokens_per_s=812.5,
        trained_tokens=300,
        elapsed_s=0.75,
        remaining_s=None,
        estimated_time_s=None,
    ),
    protocol.Epoch(epoch=1, loss=1.5, duration_s=2.25),
    Checkpoint(step=6, epoch=1, path="/c/6", train_loss=1.0, valid_loss=1.5, perplexity=4.48),
    protocol.CheckpointRemoved(step=2, path="/c/2"),
    protocol.Evaluated(metrics={"valid_loss": 1.0, "bleu4": 0.25}, validation_examples=3),
    protocol.Saved(path="/w/output", format="peft"),
    protocol.Succeeded(trained_tokens=1920, train_loss=0.5),
    protocol.Failed(code="file.format", message="Invalid json format"),
    protocol.Cancelled(step=4),
    protocol.Paused(step=4),
]

WIRE_KEYS = {
    "preparing": ["stage"],
    "data": [
        "rows",
        "conversations",
        "tokens",
        "labels",
        "total_steps",
        "total_epochs",
        "validation_examples",
        "packed",
        "fused_lora_layers",
        "hyperparameters",
    ],
    "resumed": ["step", "checkpoint"],
    "progress": [
        "step",
        "total_steps",
        "epoch",
        "total_epochs",
        "loss",
        "accuracy",
        "tokens_per_s",
        "trained_tokens",
        "elapsed_s",
        "remaining_s",
        "estimated_time_s",
    ],
    "epoch": ["epoch", "loss", "duration_s"],
    "checkpoint": [
        "step",
        "epoch",
        "path",
        "train_loss",
        "valid_loss",
        "perplexity",
        "token_accuracy",
        "reward_accuracy",
    ],
    "checkpoint_removed": ["step", "path"],
    "evaluated": ["metrics", "validation_examples"],
    "saved": ["path", "format"],
    "succeeded": ["trained_tokens", "train_loss"],
    "failed": ["code", "message"],
    "cancelled": ["step"],
    "paused": ["step"],
}
"""The keys of each kind's line, in order: what workers wrote before the protocol was typed."""


def test_every_kind_has_a_sample() -> None:
    assert sorted(protocol.kind(e) for e in SAMPLES) == sorted(protocol.KINDS)


@pytest.mark.parametrize("event", SAMPLES, ids=protocol.kind)
def test_every_kind_round_trips_with_its_keys_in_order(event: protocol.Event) -> None:
    line = protocol.encode(event)
    assert list(json.loads(line)) == ["event", *WIRE_KEYS[protocol.kind(event)]]
    assert protocol.decode(line) == event


def test_the_trainer_emits_exactly_the_documented_kinds() -> None:
    """Every event class the trainer constructs (`protocol.Step(...)`,
    `checkpoints.Checkpoint(...)`, …) against the protocol's table of kinds."""
    names = {cls.__name__ for cls in protocol.KINDS.values()}
    constructed: set[str] = set()
    for source in Path(tuneyard.trainer.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in names:
                    constructed.add(called)
    assert constructed == names


def test_the_docstring_lists_every_kind_and_field() -> None:
    doc = protocol.__doc__ or ""
    for name, cls in protocol.KINDS.items():
        assert f"`{name}`" in doc and f"`{cls.__name__}`" in doc, name
        for field in WIRE_KEYS[name]:
            assert field in doc, (name, field)


@pytest.mark.parametrize(
    "line",
    [
        "loading weights...",
        "[1, 2]",
        '{"stage": "model"}',
        '{"event": 3}',
        '{"event": "warming_up"}',
        '{"event": "failed", "code": "train.unknown"}',
    ],
)
def test_a_line_that_is_not_an_event_decodes_to_none(line: str) -> None:
    assert protocol.decode(line) is None


def test_unknown_keys_are_ignored_and_absent_optional_fields_stay_absent() -> None:
    event = protocol.decode('{"event": "evaluated", "metrics": {}, "extra": 1}')
    assert event == protocol.Evaluated(metrics={})
    assert protocol.encode(event) == '{"event": "evaluated", "metrics": {}}'
    partial = protocol.decode('{"event": "checkpoint", "step": 2, "epoch": 1, "path": "/c"}')
    assert partial == Checkpoint(step=2, epoch=1, path="/c")


def test_final_kinds() -> None:
    finals = [e for e in SAMPLES if isinstance(e, protocol.FINAL)]
    assert [protocol.kind(e) for e in finals] == ["succeeded", "failed", "cancelled", "paused"]


# --- checkpoints: one type, stored in the shape earlier versions wrote ------------------------

STORED = {
    "step": 2,
    "epoch": 1,
    "path": "/c/2",
    "train_loss": 1.0,
    "valid_loss": None,
    "perplexity": None,
    "token_accuracy": None,
    "reward_accuracy": None,
    "created_at": "2026-11-23T04:07:06+00:00",
}


def test_a_stored_checkpoint_reads_back_and_writes_the_same_json() -> None:
    exported = {**STORED, "model_name": "my-export"}
    for stored in (STORED, exported):
        progress = Progress.from_dict({"step": 2, "checkpoints": [stored]})
        (checkpoint,) = progress.checkpoints
        assert checkpoint.created_at == datetime(2026, 11, 23, 4, 7, 6, tzinfo=UTC)
        assert progress.to_dict()["checkpoints"] == [stored]
        assert list(progress.to_dict()) == [f.name for f in dataclasses.fields(Progress)]


def test_recording_keeps_one_checkpoint_per_step() -> None:
    state = Progress()
    first = Checkpoint(step=4, epoch=1, path="/c/4", train_loss=0.8)
    for event in (first, Checkpoint(step=2, epoch=1, path="/c/2"), first):
        state = recording.apply(state, event)
    assert [c.step for c in state.checkpoints] == [2, 4]
    assert recording.describe(protocol.Cancelled(step=1)) is None
    assert recording.describe(first) == (
        "Checkpoint at step 4: train_loss=0.8, valid_loss=None, perplexity=None"
    )
