"""The model side of a run: find the base model, load it (with LoRA adapters), save the result.

A LoRA run saves the PEFT layout (adapter_config.json + adapter_model.safetensors), a full
run the whole model; both also save the tokenizer and `tuneyard.json` (what was trained).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from tuneyard import kinds
from tuneyard.basemodels import minilm, tinychat
from tuneyard.core import jobs

__all__ = [
    "MANIFEST",
    "base_of",
    "build",
    "load",
    "load_adapter",
    "load_tokenizer",
    "resolve",
    "save",
    "weights_base",
    "write_weights",
]

MANIFEST = "tuneyard.json"
"""File in the output directory naming the base model, task, method and labels."""


def resolve(ref: jobs.BaseModelRef) -> Path:
    """The local directory of the base model (tiny-chat is built there on first use)."""
    if ref.source == "tiny-chat":
        if not ref.path:
            raise ValueError(f"base model {ref.name}: tiny-chat needs a path to build into")
        return tinychat.ensure_built(Path(ref.path))
    if ref.source == "minilm-l6":
        return minilm.model_dir()
    if ref.source == "path":
        if not ref.path or not (Path(ref.path) / "config.json").is_file():
            raise FileNotFoundError(f"base model {ref.name}: no model directory at {ref.path}")
        return Path(ref.path)
    raise ValueError(f"base model {ref.name}: unknown source {ref.source!r}")


def load_tokenizer(base_dir: Path) -> Any:
    """The base model's tokenizer, with a pad token (the end token when it has none)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build(
    base_dir: Path,
    *,
    task_type: kinds.TaskType,
    method: kinds.Method,
    hyperparameters: jobs.Hyperparameters,
    labels: Sequence[str] | None,
    pad_id: int,
    start_from: Path | None = None,
    start_method: kinds.Method | None = None,
    resume: Path | None = None,
) -> Any:
    """The model to train: the base (fp32), a classifier head for CLASSIFICATION, LoRA if asked.

    `start_from` is an earlier job's saved model or checkpoint, trained with `start_method`:
    a whole model (FULL) replaces the base; an adapter (LORA) is loaded trainable by a LoRA
    run (with the rank and targets it was trained with) and merged into the base by a FULL
    run. `resume` is this run's own latest checkpoint, which wins over `start_from` for
    whatever it holds (an adapter, or the whole model).
    """
    weights = weights_base(base_dir, start_from, start_method)
    adapter: Path | None = None
    merge_first: Path | None = None
    if method is kinds.Method.FULL:
        if resume is not None:
            weights = resume
        elif start_from is not None and start_method is kinds.Method.LORA:
            merge_first = start_from
    elif resume is not None:
        adapter = resume
    elif start_from is not None and start_method is kinds.Method.LORA:
        adapter = start_from
    net = load(weights, task_type=task_type, labels=labels, pad_id=pad_id)
    if merge_first is not None:
        net = load_adapter(net, merge_first, trainable=False).merge_and_unload()
        net.requires_grad_(True)  # PEFT froze the base it wrapped
    if adapter is not None:
        return load_adapter(net, adapter, trainable=True)
    if method is kinds.Method.LORA:
        return _with_lora(net, task_type, hyperparameters)
    return net


def weights_base(
    base_dir: Path, start_from: Path | None, start_method: kinds.Method | None
) -> Path:
    """The whole-model weights a run's adapters sit on: the base model, or the earlier
    job's full model it starts from."""
    if start_from is not None and start_method is kinds.Method.FULL:
        return start_from
    return base_dir


def load(
    weights: Path, *, task_type: kinds.TaskType, labels: Sequence[str] | None, pad_id: int
) -> Any:
    """A whole model in Hugging Face layout, fp32: causal LM, or classifier over `labels`."""
    if task_type is kinds.TaskType.GENERATION:
        net = transformers.AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    else:
        names = list(labels or [])
        net = transformers.AutoModelForSequenceClassification.from_pretrained(
            weights,
            dtype=torch.float32,
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={name: i for i, name in enumerate(names)},
        )
    if net.config.pad_token_id is None:
        net.config.pad_token_id = pad_id
    return net


def load_adapter(net: Any, adapter: Path, *, trainable: bool) -> Any:
    """`net` with the PEFT adapter saved in `adapter` (trainable or not)."""
    import peft

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        return peft.PeftModel.from_pretrained(net, adapter, is_trainable=trainable)


def base_of(net: Any) -> Any:
    """The transformers model inside `net` (itself, or the one a PEFT wrapper holds)."""
    get_base = getattr(net, "get_base_model", None)
    return get_base() if callable(get_base) else net


def write_weights(
    net: Any, tokenizer: Any, directory: Path, manifest: Mapping[str, Any] | None = None
) -> None:
    """Save what an export needs into `directory`: adapter or whole model, tokenizer, and
    the manifest (`tuneyard.json`) when given.

    The model is saved with standard SDPA attention, whatever it trains with.
    """
    base = base_of(net)
    training_attention = base.config._attn_implementation
    if training_attention not in ("sdpa", "eager"):
        base.set_attn_implementation("sdpa")
    try:
        net.save_pretrained(directory)
    finally:
        if training_attention not in ("sdpa", "eager"):
            base.set_attn_implementation(training_attention)
    tokenizer.save_pretrained(directory)
    if manifest is not None:
        (directory / MANIFEST).write_text(
            json.dumps(dict(manifest), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def _with_lora(net: Any, task_type: kinds.TaskType, hp: jobs.Hyperparameters) -> Any:
    """Freeze the base and add LoRA adapters; SEQ_CLS keeps the classifier head trainable."""
    import peft

    targets: str | list[str] = list(hp.lora_target_modules)
    if hp.lora_target_modules == ("all-linear",):
        targets = "all-linear"
    config = peft.LoraConfig(
        r=hp.lora_rank,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=targets,
        task_type=(
            peft.TaskType.CAUSAL_LM
            if task_type is kinds.TaskType.GENERATION
            else peft.TaskType.SEQ_CLS
        ),
    )
    with warnings.catch_warnings():
        # peft 0.21 probes a property transformers 5 deprecated; nothing for us to act on.
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        return peft.get_peft_model(net, config)


def save(
    net: torch.nn.Module,
    tokenizer: Any,
    output_dir: Path,
    *,
    method: kinds.Method,
    manifest: Mapping[str, Any],
) -> str:
    """Save model, tokenizer and manifest into `output_dir` atomically; return the format.

    Everything is written to `<output_dir>.tmp-<pid>` first and renamed into place.
    """
    staging = Path(f"{output_dir}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write_weights(net, tokenizer, staging, manifest)
        _replace_dir(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return "peft" if method is kinds.Method.LORA else "full"


def _replace_dir(source: Path, target: Path) -> None:
    """Rename `source` to `target`, replacing a previous `target` directory if there is one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.replace(source, target)
        return
    old = Path(f"{target}.old-{os.getpid()}")
    os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)
