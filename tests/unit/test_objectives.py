"""The table of objectives and the dataset formats' declarations agree (nothing is trained)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tuneyard import kinds
from tuneyard.core import jobs
from tuneyard.datasets import formats, validator
from tuneyard.kinds import Objective, TaskType
from tuneyard.trainer import objectives

OPTIONAL = {"labels", "reference", "predict", "conversations"}
"""Parts an objective may leave out (None: it has no such step)."""


def spec(task_type: TaskType, objective: Objective) -> jobs.TrainingSpec:
    return jobs.TrainingSpec(
        job_id="j",
        task_type=task_type,
        method=kinds.Method.LORA,
        base_model=jobs.BaseModelRef("tiny-chat", "tiny-chat", None),
        dataset_path="unused",
        dataset_filename="train.jsonl",
        hyperparameters=jobs.Hyperparameters(),
        output_dir="out",
        work_dir="work",
        objective=objective,
    )


def test_every_objective_has_a_row() -> None:
    assert set(objectives.TABLE) == {*Objective, TaskType.CLASSIFICATION}
    for key, row in objectives.TABLE.items():
        assert row.name == key.value


@pytest.mark.parametrize("key", list(objectives.TABLE))
def test_every_row_has_every_part(key: Objective | TaskType) -> None:
    row = objectives.TABLE[key]
    for field in dataclasses.fields(row):
        value = getattr(row, field.name)
        if field.name in {"name", "reads", "packs"}:
            continue
        if value is None:
            assert field.name in OPTIONAL, f"{key}: {field.name} is required"
        else:
            assert callable(value), f"{key}: {field.name} is not a function"
    assert isinstance(row.reads, Objective) and isinstance(row.packs, bool)
    assert callable(row.score(jobs.Hyperparameters()))


def test_every_format_kind_is_read_by_an_objective() -> None:
    read = {row.reads for row in objectives.TABLE.values()}
    assert {f.kind for f in formats.ALL} <= read
    assert read <= {f.kind for f in formats.ALL}  # and every objective has a format to read
    assert set(formats.HOLDS) == set(Objective)


def test_formats_are_declared_once_and_listed_from_the_declarations() -> None:
    assert tuple(f.name for f in formats.ALL) == validator.FORMATS
    assert len(set(validator.FORMATS)) == len(formats.ALL)
    for f in formats.ALL:
        assert f.name.startswith(f.vendor + "-")
        assert (f.parser is None) == (f.vendor == "clova")  # CLOVA has its own reader
        assert formats.BY_NAME[f.name] is f


@pytest.mark.parametrize(
    ("task_type", "objective", "expected"),
    [
        (TaskType.GENERATION, Objective.SFT, objectives.SFT),
        (TaskType.GENERATION, Objective.DPO, objectives.DPO),
        (TaskType.GENERATION, Objective.CPT, objectives.CPT),
        (TaskType.CLASSIFICATION, Objective.SFT, objectives.CLASSIFICATION),
    ],
)
def test_the_objective_comes_from_the_spec(
    task_type: TaskType, objective: Objective, expected: objectives.Objective
) -> None:
    assert objectives.of(spec(task_type, objective)) is expected


def test_a_format_serves_the_objective_its_kind_names(tmp_path: Path) -> None:
    from tuneyard.datasets import choice

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        '{"input": {"messages": [{"role": "user", "content": "hi"}]}, '
        '"preferred_output": [{"role": "assistant", "content": "hello"}], '
        '"non_preferred_output": [{"role": "assistant", "content": "go"}]}\n'
    )
    assert formats.BY_NAME["openai-dpo"].kind is Objective.DPO
    fmt, problem = choice.format_for_job(
        pairs, "pairs.jsonl", dialect="openai", objective=Objective.DPO
    )
    assert (fmt, problem) == ("openai-dpo", None)
    _, problem = choice.format_for_job(
        pairs, "pairs.jsonl", dialect="openai", objective=Objective.SFT
    )
    assert problem == (
        f"SFT trains on {formats.HOLDS[Objective.SFT]}; openai-dpo holds "
        f"{formats.HOLDS[Objective.DPO]}"
    )
