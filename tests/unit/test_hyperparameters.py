"""The hyperparameter dataclass validates in full and round-trips."""

from __future__ import annotations

import dataclasses

from tuneyard.core.jobs import AUTO_FIELDS, Hyperparameters, TrainingSpec
from tuneyard.kinds import Method, Objective


def test_defaults_are_valid() -> None:
    assert Hyperparameters().problems() == []


def test_every_problem_is_reported_at_once() -> None:
    bad = Hyperparameters(n_epochs=0, learning_rate=float("nan"), batch_size=0, lora_dropout=1.0)
    problems = bad.problems()
    assert len(problems) == 4
    assert any("n_epochs" in p for p in problems)
    assert any("learning_rate" in p for p in problems)
    assert any("batch_size" in p for p in problems)
    assert any("lora_dropout" in p for p in problems)


def test_round_trip() -> None:
    hp = Hyperparameters(n_epochs=3, lora_target_modules=("q_proj", "v_proj"))
    assert Hyperparameters.from_dict(hp.to_dict()) == hp
    assert Hyperparameters.from_dict({**hp.to_dict(), "unknown": 1}) == hp


def test_training_spec_round_trip() -> None:
    from tuneyard.core.jobs import BaseModelRef
    from tuneyard.kinds import TaskType

    spec = TrainingSpec(
        job_id="abcd1234",
        task_type=TaskType.GENERATION,
        method=Method.LORA,
        base_model=BaseModelRef("tiny-chat", "tiny-chat", "/m"),
        dataset_path="/d",
        dataset_filename="train.csv",
        hyperparameters=Hyperparameters(),
        output_dir="/o",
        work_dir="/w",
    )
    assert TrainingSpec.from_dict(spec.to_dict()) == spec
    continued = dataclasses.replace(
        spec,
        dataset_format="openai-dpo",
        objective=Objective.DPO,
        start_from="/jobs/a/checkpoints/step-00000004",
        start_from_method=Method.LORA,
        hyperparameters=Hyperparameters(auto=("n_epochs",), dpo_beta=0.2),
    )
    assert TrainingSpec.from_dict(continued.to_dict()) == continued


def test_auto_values_follow_the_size_of_the_data() -> None:
    hp = Hyperparameters(auto=AUTO_FIELDS, n_epochs=99, batch_size=99, learning_rate=0.5)
    small = hp.resolve_auto(40, Method.LORA)
    assert (small.n_epochs, small.batch_size, small.learning_rate) == (8, 4, 1e-4)
    assert small.auto == () and small.problems() == []
    assert hp.resolve_auto(5, Method.LORA).n_epochs == 25  # 300 examples seen, capped at 25
    assert hp.resolve_auto(1_000, Method.FULL).n_epochs == 3
    large = hp.resolve_auto(20_000, Method.FULL)
    assert (large.n_epochs, large.batch_size, large.learning_rate) == (1, 32, 1e-5)
    assert hp.resolve_auto(10**6, Method.LORA).batch_size == 64
    assert hp.resolve_auto(1_000, Method.LORA, Objective.DPO).learning_rate == 5e-5


def test_only_fields_left_auto_change() -> None:
    hp = Hyperparameters(auto=("batch_size",), n_epochs=2, learning_rate=0.5)
    resolved = hp.resolve_auto(1_000, Method.LORA)
    assert (resolved.n_epochs, resolved.batch_size, resolved.learning_rate) == (2, 4, 0.5)
    assert Hyperparameters(n_epochs=2).resolve_auto(1, Method.LORA) == Hyperparameters(n_epochs=2)


def test_unknown_auto_fields_and_bad_beta_are_problems() -> None:
    problems = Hyperparameters(auto=("seed",), dpo_beta=0.0).problems()
    assert any("seed" in p for p in problems) and any("dpo_beta" in p for p in problems)
