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

from tuneyard.basemodels import minilm, tinychat
from tuneyard.core import jobs

__all__ = [
    "MANIFEST",
    "base_of",
    "build",
    "load_tokenizer",
    "resolve",
    "save",
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
    task_type: jobs.TaskType,
    method: jobs.Method,
    hyperparameters: jobs.Hyperparameters,
    labels: Sequence[str] | None,
    pad_id: int,
    start_from: Path | None = None,
) -> torch.nn.Module:
    """The model to train: the base (fp32), a classifier head for CLASSIFICATION, LoRA if asked.

    `start_from` is a checkpoint (or saved output) to continue from: its adapter is loaded
    trainable (with the LoRA settings it was trained with), or its whole model for FULL.
    """
    if method is jobs.Method.FULL and start_from is not None:
        base_dir = start_from
    if task_type is jobs.TaskType.GENERATION:
        net = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    else:
        names = list(labels or [])
        net = transformers.AutoModelForSequenceClassification.from_pretrained(
            base_dir,
            dtype=torch.float32,
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={name: i for i, name in enumerate(names)},
        )
    if net.config.pad_token_id is None:
        net.config.pad_token_id = pad_id
    if method is jobs.Method.LORA and start_from is not None:
        import peft

        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
            )
            return peft.PeftModel.from_pretrained(net, start_from, is_trainable=True)
    if method is jobs.Method.LORA:
        net = _with_lora(net, task_type, hyperparameters)
    return net


def base_of(net: Any) -> Any:
    """The transformers model inside `net` (itself, or the one a PEFT wrapper holds)."""
    get_base = getattr(net, "get_base_model", None)
    return get_base() if callable(get_base) else net


def write_weights(net: Any, tokenizer: Any, directory: Path) -> None:
    """Save what an export needs into `directory`: adapter or whole model, and tokenizer.

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


def _with_lora(net: Any, task_type: jobs.TaskType, hp: jobs.Hyperparameters) -> Any:
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
            if task_type is jobs.TaskType.GENERATION
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
    method: jobs.Method,
    manifest: Mapping[str, Any],
) -> str:
    """Save model, tokenizer and manifest into `output_dir` atomically; return the format.

    Everything is written to `<output_dir>.tmp-<pid>` first and renamed into place.
    """
    staging = Path(f"{output_dir}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write_weights(net, tokenizer, staging)
        (staging / MANIFEST).write_text(
            json.dumps(dict(manifest), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        _replace_dir(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return "peft" if method is jobs.Method.LORA else "full"


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
