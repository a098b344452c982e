"""DashScope wire models: the vendor's field names exactly (spec §2.4), numbers as sent.

`hyper_parameters` is kept as the client sent it (it is echoed back, numbers as numbers,
spec §7); `HyperParameters` reads the keys tuneyard acts on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tuneyard.api.dialects.values import Float, Int, Name, OptName, OptStr, validated

__all__ = [
    "DATASET_FORMATS",
    "CreateFineTune",
    "DatasetRef",
    "HyperParameters",
    "parse_create",
    "parse_hyper",
]

DATASET_FORMATS = frozenset({"dashscope-sft", "dashscope-dpo", "dashscope-cpt", "openai-chat"})
"""What an upload may hold: ChatML conversations, DPO pairs, or CPT text (spec §2.10)."""


class DatasetRef(BaseModel):
    """`training_datasets[]` of the newer docs: `{"data_source_type": "file_id", "file_id"}`."""

    model_config = ConfigDict(extra="ignore")

    data_source_type: Name = "file_id"
    file_id: Name


class CreateFineTune(BaseModel):
    """`POST /api/v1/fine-tunes` body (spec §2.4); unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    model: Name
    training_file_ids: list[Name] | None = None
    validation_file_ids: list[Name] | None = None
    training_datasets: list[DatasetRef] | None = None
    validation_datasets: list[DatasetRef] | None = None
    training_type: OptStr = None
    hyper_parameters: dict[str, Any] | None = None
    job_name: OptName = None
    model_name: OptName = None
    finetuned_output: OptName = None
    finetuned_output_suffix: OptName = None


class HyperParameters(BaseModel):
    """The `hyper_parameters` keys tuneyard acts on (spec §2.4 table); others are echoed."""

    model_config = ConfigDict(extra="ignore")

    n_epochs: Int | None = None
    learning_rate: Float | None = None
    batch_size: Int | None = None
    max_length: Int | None = None
    lr_scheduler_type: OptStr = None
    warmup_ratio: Float | None = None
    weight_decay: Float | None = None
    split: Float | None = None
    lora_rank: Int | None = None
    lora_alpha: Int | None = None
    lora_dropout: Float | None = None
    save_strategy: OptStr = None
    save_steps: Int | None = None
    save_total_limit: Int | None = None
    seed: Int | None = None


def parse_create(body: dict[str, Any]) -> CreateFineTune:
    """Validate the create body; every problem is reported at once as InvalidRequest."""
    return validated(CreateFineTune, body)


def parse_hyper(raw: dict[str, Any]) -> HyperParameters:
    """Read the known `hyper_parameters` keys (numbers or numeric strings)."""
    return validated(HyperParameters, raw, "hyper_parameters.")
