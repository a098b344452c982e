"""DashScope mapping: training types, hyperparameters with the vendor's defaults, echo, ids."""

from __future__ import annotations

import datetime as dt

import pytest

from tuneyard import errors
from tuneyard.api.dialects.dashscope import create, translate, wire
from tuneyard.core import ids
from tuneyard.core.jobs import Parent
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Method, Objective


def spec(**body: object) -> object:
    wanted = wire.parse_create({"model": "tiny-chat", "training_file_ids": ["file-1"], **body})
    return create.to_spec(wanted, workspace_id="ws", parent=None)


@pytest.mark.parametrize(
    ("training_type", "method", "objective"),
    [
        (None, Method.FULL, Objective.SFT),
        ("efficient_sft", Method.LORA, Objective.SFT),
        ("dpo_full", Method.FULL, Objective.DPO),
        ("DPO_LORA", Method.LORA, Objective.DPO),
        ("cpt", Method.FULL, Objective.CPT),
    ],
)
def test_training_types(training_type: str | None, method: Method, objective: Objective) -> None:
    made = spec(training_type=training_type)
    assert (made.method, made.objective) == (method, objective)  # type: ignore[attr-defined]


def test_vendor_defaults_and_sent_values() -> None:
    lora = spec(training_type="efficient_sft").hyperparameters  # type: ignore[attr-defined]
    assert (lora.n_epochs, lora.learning_rate, lora.max_seq_len) == (1, 1e-4, 2048)
    assert (lora.lora_rank, lora.lora_alpha, lora.lora_dropout) == (8, 32, 0.1)
    assert (lora.lr_scheduler, lora.warmup_ratio, lora.weight_decay) == ("cosine", 0.05, 0.1)
    assert (lora.validation_split, lora.save_steps, lora.save_total_limit) == (0.2, 0, 1)
    assert spec().hyperparameters.learning_rate == 1e-5  # type: ignore[attr-defined]
    sent = spec(
        hyper_parameters={
            "n_epochs": "3",
            "learning_rate": "1.6e-5",
            "lr_scheduler_type": "Constant",
            "split": 0.9,
            "save_strategy": "steps",
            "save_steps": 20,
            "eval_steps": 50,
        }
    )
    hp = sent.hyperparameters  # type: ignore[attr-defined]
    assert (hp.n_epochs, hp.learning_rate, hp.lr_scheduler) == (3, 1.6e-5, "constant")
    assert (hp.validation_split, hp.save_steps) == (0.1, 20)
    assert sent.echo["hyper_parameters"] == {  # type: ignore[attr-defined]
        "n_epochs": 3,
        "learning_rate": 1.6e-5,
        "lr_scheduler_type": "Constant",
        "split": 0.9,
        "save_strategy": "steps",
        "save_steps": 20,
        "eval_steps": 50,
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"training_type": "rlhf"}, "training_type"),
        ({"hyper_parameters": {"lr_scheduler_type": "Inverse_sqrt"}},
         "hyper_parameters.lr_scheduler_type"),
        ({"hyper_parameters": {"split": 0}}, "hyper_parameters.split"),
        ({"hyper_parameters": {"batch_size": 2.5}}, "hyper_parameters.batch_size"),
        ({"training_file_ids": ["a", "b"]}, "training_file_ids"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        spec(**body)
    assert caught.value.param == param


def test_output_names_and_continuing() -> None:
    assert spec().output_name == "tiny-chat-{job_id}"  # type: ignore[attr-defined]
    assert spec(finetuned_output_suffix="v2").output_name == "tiny-chat-v2-{job_id}"  # type: ignore[attr-defined]
    assert spec(model_name="mine").output_name == "mine"  # type: ignore[attr-defined]
    newer = wire.parse_create(
        {"model": "mine", "training_datasets": [{"data_source_type": "file_id", "file_id": "f"}]}
    )

    class Earlier:
        id = "ft-202611230000-abcd"
        base_model = "tiny-chat"

    made = create.to_spec(newer, workspace_id="ws", parent=Earlier())  # type: ignore[arg-type]
    assert made.base_model == "tiny-chat" and made.parent == Parent("ft-202611230000-abcd")
    assert made.training_file_id == "f" and made.echo["model"] == "mine"


def test_every_status_has_a_vendor_name_and_ids_use_beijing_time() -> None:
    assert set(translate.STATUS) == set(JobStatus)
    assert set(translate.STATUS.values()) == {
        "PENDING", "QUEUING", "RUNNING", "CANCELING", "SUCCEEDED", "FAILED", "CANCELED"
    }  # fmt: skip
    now = dt.datetime(2024, 10, 29, 8, 53, 53, tzinfo=dt.UTC)
    minted = ids.new_job_id(create.ID_STYLE, now)
    assert create.ID_STYLE.pattern.match(minted) and minted.startswith("ft-202410291653-")
    assert translate.format_time(now) == "2024-10-29 16:53:53"
