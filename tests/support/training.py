"""Running the training recipe in-process on the tiny model, for the trainer's tests."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from tuneyard import kinds
from tuneyard.core import jobs, protocol
from tuneyard.datasets.examples import Example, Message
from tuneyard.trainer import data, recipe, report


def sum_chat(i: int, *, follow_up: bool = False) -> Example:
    """A small addition chat (the sum of i % 7 and i % 5), optionally with a second turn."""
    a, b = i % 7, i % 5
    turns = [
        Message("system", "You add numbers."),
        Message("user", f"{a}+{b}?"),
        Message("assistant", f"{a + b}"),
    ]
    if follow_up:
        turns += [Message("user", "Again, louder."), Message("assistant", f"{a + b}!")]
    return Example(tuple(turns))


def training_spec(
    work: Path,
    tiny_dir: Path,
    *,
    method: kinds.Method = kinds.Method.LORA,
    objective: kinds.Objective = kinds.Objective.SFT,
    start_from: Path | None = None,
    start_method: kinds.Method | None = None,
    **hyperparameters: Any,
) -> jobs.TrainingSpec:
    """A generation spec on tiny-chat working in `work` (its output in `work/output`)."""
    return jobs.TrainingSpec(
        job_id=work.name,
        task_type=kinds.TaskType.GENERATION,
        method=method,
        base_model=jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir)),
        dataset_path=str(work / "unused"),
        dataset_filename="train.jsonl",
        hyperparameters=jobs.Hyperparameters(**hyperparameters),
        output_dir=str(work / "output"),
        work_dir=str(work),
        objective=objective,
        start_from=str(start_from) if start_from else None,
        start_from_method=start_method,
    )


def run_recipe(
    spec: jobs.TrainingSpec,
    examples: Sequence[Example],
    stop_at_checkpoint: int | None = None,
    *,
    pause_after_step: int | None = None,
    precision_setting: str = "fp32",
) -> list[dict[str, Any]]:
    """The protocol events of `recipe.run` on `examples`; with `stop_at_checkpoint` the run
    is cancelled right after saving that step's checkpoint, with `pause_after_step` it is
    paused (as by SIGUSR1) at the boundary after that step.

    It trains in fp32 unless told otherwise: these tests compare runs to the last bit (a
    resumed run's weights with a straight run's, DPO's first loss with log 2), and on a CPU
    with native bf16 the bf16 GEMMs are not reproducible from run to run under load (a
    resumed and a straight run ended ~1e-4 apart). The bf16 path has its own tests
    (`test_training_precision.py`, `tests/unit/test_cpu_bf16.py`)."""
    stream = io.StringIO()
    boundaries = 0

    def stop() -> bool:
        marker = f'"event": "checkpoint", "step": {stop_at_checkpoint},'
        return stop_at_checkpoint is not None and marker in stream.getvalue()

    def pause() -> bool:
        nonlocal boundaries
        boundaries += 1  # asked once per step boundary: after step 0, 1, 2, …
        return pause_after_step is not None and boundaries == pause_after_step + 1

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "load_examples", lambda spec: list(examples))
        with contextlib.suppress(report.Cancelled, report.Paused):
            recipe.run(
                spec, report.Reporter(stream), stop, pause, precision_setting=precision_setting
            )
    decoded = map(protocol.decode, stream.getvalue().splitlines())
    return [protocol.wire(e) for e in decoded if e is not None]


def adapter(path: Path) -> dict[str, torch.Tensor]:
    """The LoRA tensors saved in `path`."""
    from safetensors.torch import load_file

    return load_file(path / "adapter_model.safetensors")
