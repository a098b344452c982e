"""The hyperparameter dataclass validates in full and round-trips."""

from __future__ import annotations

from tuneyard.core.jobs import Hyperparameters, TrainingSpec


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
    from tuneyard.core.jobs import BaseModelRef, Method, TaskType

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
