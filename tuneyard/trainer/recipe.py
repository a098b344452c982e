"""One training run, top to bottom: model → examples → tokens → weights → loop → save.

`run` emits the protocol events as it goes and ends with `saved` + `succeeded`; it raises
`report.Cancelled` when `stop()` turns true at a step boundary (nothing is saved then) and
`report.Failed` for a training file that fails validation. Any other exception escapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from tuneyard.core import jobs
from tuneyard.trainer import data, model, report

__all__ = ["run"]

_MAX_GRAD_NORM = 1.0


def run(spec: jobs.TrainingSpec, reporter: report.Reporter, stop: Callable[[], bool]) -> None:
    """Train the spec's model on its training file and save it into `spec.output_dir`."""
    hp = spec.hyperparameters
    problems = hp.problems()
    if problems:
        raise ValueError("invalid hyperparameters: " + "; ".join(problems))
    torch.manual_seed(hp.seed)
    classify = spec.task_type is jobs.TaskType.CLASSIFICATION

    reporter.emit("preparing", stage="model")
    base_dir = model.resolve(spec.base_model)
    _check(stop, step=0)

    reporter.emit("preparing", stage="data")
    examples = data.load_examples(spec)
    labels = data.label_names(examples) if classify else None
    tokenizer = model.load_tokenizer(base_dir)
    if labels is not None:
        features = data.tokenise_classification(examples, tokenizer, hp.max_seq_len, labels)
    else:
        features = data.tokenise_generation(examples, tokenizer, hp.max_seq_len)
    steps_per_epoch = data.steps_per_epoch(
        len(features), hp.batch_size, hp.gradient_accumulation_steps
    )
    total_steps = steps_per_epoch * hp.n_epochs
    reporter.emit(
        "data",
        rows=data.count_rows(examples, spec.task_type),
        conversations=len(examples),
        tokens=sum(len(f.input_ids) for f in features),
        labels=labels,
        total_steps=total_steps,
        total_epochs=hp.n_epochs,
    )
    _check(stop, step=0)

    device = _device()
    net = model.build(
        base_dir,
        task_type=spec.task_type,
        method=spec.method,
        hyperparameters=hp,
        labels=labels,
        pad_id=tokenizer.pad_token_id,
    ).to(device)
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = _optimizer(trainable, hp)
    schedule = _schedule(optimizer, hp, total_steps)
    _check(stop, step=0)

    reporter.start(steps_per_epoch=steps_per_epoch, total_epochs=hp.n_epochs)
    order = torch.Generator().manual_seed(hp.seed)
    net.train()
    step = 0
    for epoch in range(1, hp.n_epochs + 1):
        batches = data.shuffled_batches(features, hp.batch_size, order)
        for group in _accumulation_groups(batches, hp.gradient_accumulation_steps):
            _check(stop, step=step)
            loss = _optimizer_step(net, trainable, group, optimizer, schedule, tokenizer, device)
            step += 1
            tokens = sum(len(f.input_ids) for batch in group for f in batch)
            reporter.step(step, epoch, loss, tokens)
        reporter.end_epoch(epoch, step)
    _check(stop, step=step)

    net.eval()
    fmt = model.save(
        net,
        tokenizer,
        Path(spec.output_dir),
        method=spec.method,
        manifest={
            "job_id": spec.job_id,
            "base_model": spec.base_model.name,
            "task_type": spec.task_type.value,
            "method": spec.method.value,
            "labels": labels,
        },
    )
    reporter.emit("saved", path=spec.output_dir, format=fmt)
    reporter.emit(
        "succeeded",
        trained_tokens=reporter.trained_tokens,
        train_loss=round(reporter.last_epoch_loss or 0.0, 6),
    )


def _check(stop: Callable[[], bool], *, step: int) -> None:
    if stop():
        raise report.Cancelled(step)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _optimizer(trainable: list[torch.nn.Parameter], hp: jobs.Hyperparameters) -> torch.optim.AdamW:
    """AdamW over the trainable weights; biases and norm scales are not decayed."""
    return torch.optim.AdamW(
        [
            {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": hp.weight_decay},
            {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=hp.learning_rate,
    )


def _schedule(optimizer: torch.optim.Optimizer, hp: jobs.Hyperparameters, total_steps: int) -> Any:
    """Linear warm-up over warmup_ratio of the steps, then linear | cosine | constant."""
    name = "constant_with_warmup" if hp.lr_scheduler == "constant" else hp.lr_scheduler
    return transformers.get_scheduler(
        name,
        optimizer,
        num_warmup_steps=math.ceil(hp.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )


def _accumulation_groups(
    batches: list[list[data.Feature]], size: int
) -> Iterator[list[list[data.Feature]]]:
    """Consecutive micro-batches that make up one optimizer step each."""
    for start in range(0, len(batches), size):
        yield batches[start : start + size]


def _optimizer_step(
    net: torch.nn.Module,
    trainable: list[torch.nn.Parameter],
    group: Sequence[Sequence[data.Feature]],
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    tokenizer: Any,
    device: torch.device,
) -> torch.Tensor:
    """Forward/backward each micro-batch, then one optimizer step; the mean loss, on device."""
    total = torch.zeros((), device=device)
    for batch in group:
        tensors = data.collate(batch, tokenizer.pad_token_id)
        inputs = {k: v.to(device, non_blocking=True) for k, v in tensors.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = net(**inputs).loss / len(group)
        loss.backward()
        total += loss.detach()
    torch.nn.utils.clip_grad_norm_(trainable, _MAX_GRAD_NORM)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return total
