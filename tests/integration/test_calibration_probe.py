"""The calibration for real: its process, and the trainer's own step timed on probe models."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tuneyard import calibration
from tuneyard.basemodels import shapes
from tuneyard.core import estimate
from tuneyard.core.jobs import Hyperparameters
from tuneyard.kinds import Method, Objective, TaskType
from tuneyard.trainer import probe

pytestmark = pytest.mark.integration  # builds and trains small models (no server)


def test_a_probe_times_a_real_step_of_each_family_and_method() -> None:
    with probe.ProbeModels() as models:
        for encoder in (False, True):
            for method in (Method.LORA, Method.FULL):
                short = probe.Probe(encoder, method, False, 1, 1, 32)
                deep = probe.Probe(encoder, method, False, 3, 2, 128)
                fast, slow = models.seconds(short, budget=0.0), models.seconds(deep, budget=0.0)
                assert 0.0 < fast < slow < 10.0, (encoder, method)
                work = deep.work()
                assert work.packed is not encoder and work.shape.layers == 3
                assert (
                    estimate.parameters(
                        work.shape, method, work.hp, work.task_type, work.labels
                    ).trainable
                    > 0
                )


def test_the_calibration_measures_every_family_method_and_dtype_it_may_train_in() -> None:
    machine = calibration.measure(calibration.key())
    dtypes = ["fp32", "bf16"] if machine.gemm_bf16 else ["fp32"]
    assert set(machine.overheads) == {
        f"{family}/{method}/{dtype}"
        for family in ("decoder", "encoder")
        for method in ("lora", "full")
        for dtype in dtypes
    }
    for key, found in machine.overheads.items():
        assert min(found.step_s, found.layer_s, *(s for _, s in found.passes)) >= 0.0, key
        assert [n for n, _ in found.passes] == [512, 2048], key
        # (how the time splits between the terms is the machine's: under the parallel
        # tests' load it is not the quiet machine's, and the calibration says it was busy)
    # a real step costs more than its FLOPs price: something is left for the overheads
    assert any(
        found.step_s + found.layer_s + sum(s for _, s in found.passes) > 0.0
        for found in machine.overheads.values()
    )
    assert estimate.Machine.from_dict(machine.to_dict()) == machine
    tiny = estimate.shape_of(shapes.TINY_CHAT)
    hp = Hyperparameters(n_epochs=1, batch_size=8, max_seq_len=512, eval_samples=0)
    work = estimate.Work(tiny, Method.LORA, Objective.SFT, TaskType.GENERATION, hp, [100] * 64, [])
    measured = estimate.estimate(work, machine, memory_available=8 << 30)
    assert math.isfinite(measured.train_seconds) and measured.train_seconds > 0
    # the same machine without its measured overheads prices the constants' way instead
    constants = dataclasses.replace(machine, overheads={})
    priced = estimate.estimate(work, constants, memory_available=8 << 30).train_seconds
    assert measured.train_seconds != priced
