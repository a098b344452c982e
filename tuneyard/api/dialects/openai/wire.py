"""OpenAI wire models: the create-job body exactly as the SDK sends it (spec §4.4).

Every hyperparameter is `"auto"` or a number; unknown keys anywhere are refused, as the
real API does (a misspelt knob must not train silently with its default).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tuneyard.api.dialects.values import Float, Int, Name, validated
from tuneyard.datasets import validator

__all__ = [
    "DATASET_FORMATS",
    "CreateJob",
    "DpoHyperparameters",
    "Hyperparameters",
    "Method",
    "parse_create",
]

DATASET_FORMATS = frozenset(validator.FORMATS)
"""What an uploaded file may hold: any format tuneyard reads (checked on upload)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hyperparameters(_Strict):
    """`hyperparameters` of supervised training (and the deprecated top-level block)."""

    n_epochs: Literal["auto"] | Int | None = None
    batch_size: Literal["auto"] | Int | None = None
    learning_rate_multiplier: Literal["auto"] | Float | None = None


class DpoHyperparameters(Hyperparameters):
    """`method.dpo.hyperparameters`: the supervised ones and `beta`."""

    beta: Literal["auto"] | Float | None = None


class _Supervised(_Strict):
    hyperparameters: Hyperparameters | None = None


class _Dpo(_Strict):
    hyperparameters: DpoHyperparameters | None = None


class Method(_Strict):
    """`method`: supervised or dpo (reinforcement needs a grader; not served)."""

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: _Supervised | None = None
    dpo: _Dpo | None = None
    reinforcement: dict[str, Any] | None = None


class CreateJob(_Strict):
    """`POST /v1/fine_tuning/jobs`."""

    model: Name
    training_file: Name
    validation_file: Name | None = None
    suffix: Name | None = Field(default=None, max_length=64)
    seed: Int | None = None
    metadata: dict[str, str] | None = None
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    integrations: list[dict[str, Any]] | None = None


def parse_create(body: dict[str, Any]) -> CreateJob:
    """Validate the body; every problem at once, the first one's field path as `param`."""
    return validated(CreateJob, body, full_param=True)
