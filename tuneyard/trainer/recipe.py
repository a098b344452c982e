"""One training run, top to bottom: spec → data → model → loop → checkpoints → eval → save.

`run` emits the protocol events as it goes and ends with `saved` + `succeeded`; it raises
`report.Cancelled` when `stop()` turns true at a step boundary (nothing is saved then) and
`report.Failed` for a training file that fails validation. Any other exception escapes.

A run that finds a checkpoint of its job (a worker killed earlier, a retried job) resumes
from the newest: weights, optimizer, schedule and RNG come back, and the epochs replay the
same batches (their order depends only on the seed and the epoch), skipping those done.
A job may instead start from an earlier job's model or checkpoint (`spec.start_from`).

The objective is SFT (next-token loss on the assistant replies, or the class for
classifiers), DPO (`preference`) or CPT (next-token loss on every token of plain
documents): the loop is the same, only the data and the scoring differ.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from tuneyard.core import jobs
from tuneyard.trainer import (
    checkpoints,
    data,
    evaluate,
    lora,
    loss,
    model,
    packing,
    preference,
    report,
)

__all__ = ["run"]

_MAX_GRAD_NORM = 1.0
_VALIDATION_COST = 1 / 3
"""Cost of a validation token relative to a training token (forward only)."""


def run(
    spec: jobs.TrainingSpec,
    reporter: report.Reporter,
    stop: Callable[[], bool],
    pause: Callable[[], bool] = lambda: False,
) -> None:
    """Train the spec's model on its training file and save it into `spec.output_dir`.

    At every step boundary: `stop()` true ends the run with `report.Cancelled` (nothing
    saved); `pause()` true saves a checkpoint of the steps done and ends it with
    `report.Paused` (the job resumes from that checkpoint)."""
    problems = spec.hyperparameters.problems()
    if problems:
        raise ValueError("invalid hyperparameters: " + "; ".join(problems))
    hp = spec.hyperparameters
    torch.manual_seed(hp.seed)
    classify = spec.task_type is jobs.TaskType.CLASSIFICATION
    dpo = spec.objective is jobs.Objective.DPO
    cpt = spec.objective is jobs.Objective.CPT
    root = checkpoint_root(spec)

    # -- data ---------------------------------------------------------------------------
    reporter.emit("preparing", stage="model")
    base_dir = model.resolve(spec.base_model)
    _check(stop, step=0)
    reporter.emit("preparing", stage="data")
    examples = data.load_examples(spec)
    held_out = data.load_validation(spec)
    if held_out is None:
        train_examples, valid_examples = data.split_validation(
            examples, hp.validation_split, hp.seed
        )
    else:
        train_examples, valid_examples = examples, held_out
    hp = hp.resolve_auto(len(train_examples), spec.method, spec.objective)
    labels = data.label_names([*examples, *(held_out or [])]) if classify else None
    tokenizer = model.load_tokenizer(base_dir)

    def tokenise(chosen: Sequence[Any]) -> list[Any]:
        if labels is not None:
            return data.tokenise_classification(chosen, tokenizer, hp.max_seq_len, labels)
        if dpo:
            return preference.tokenise(chosen, tokenizer, hp.max_seq_len)
        if cpt:
            return data.tokenise_text(chosen, tokenizer, hp.max_seq_len)
        return data.tokenise_generation(chosen, tokenizer, hp.max_seq_len)

    train, valid = tokenise(train_examples), tokenise(valid_examples)
    _check(stop, step=0)

    # -- model --------------------------------------------------------------------------
    resume = checkpoints.latest(root)
    start_from = Path(spec.start_from) if spec.start_from else None
    device = _device()
    net = model.build(
        base_dir,
        task_type=spec.task_type,
        method=spec.method,
        hyperparameters=hp,
        labels=labels,
        pad_id=tokenizer.pad_token_id,
        start_from=start_from,
        start_method=spec.start_from_method,
        resume=Path(resume.path) if resume else None,
    ).to(device)
    base = model.base_of(net)
    packed = not classify and packing.supports_packing(base)
    if packed:
        packing.enable(base)
    fused = lora.fuse(net)
    trainable = [p for p in net.parameters() if p.requires_grad]
    manifest = {
        "job_id": spec.job_id,
        "base_model": spec.base_model.name,
        "task_type": spec.task_type.value,
        "method": spec.method.value,
        "objective": spec.objective.value,
        "labels": labels,
        "weights_base": str(model.weights_base(base_dir, start_from, spec.start_from_method)),
        "start_from": spec.start_from,
    }
    score: Callable[..., loss.Scored] = functools.partial(
        functools.partial(preference.score, beta=hp.dpo_beta) if dpo else loss.score,
        packed=packed,
        pad_id=tokenizer.pad_token_id,
        device=device,
    )
    _check(stop, step=0)
    if dpo:  # the reference is the model as the job started: computed once, then kept
        reporter.emit("preparing", stage="reference")
        train, valid = (
            preference.references(
                net,
                pairs,
                batch_size=hp.batch_size,
                packed=packed,
                pad_id=tokenizer.pad_token_id,
                device=device,
                cache=Path(spec.work_dir) / f"dpo-reference-{name}.pt",
            )
            for pairs, name in ((train, "train"), (valid, "validation"))
        )
        _check(stop, step=0)

    # -- plan: every epoch's batches, steps and checkpoints are known before the loop ------
    lengths = [f.length for f in train]
    target_counts = [f.n_targets for f in train]
    plan = [
        list(
            _groups(
                data.epoch_batches(
                    lengths, hp.batch_size, seed=hp.seed, epoch=e, group_by_length=not packed
                ),
                hp.gradient_accumulation_steps,
            )
        )
        for e in range(1, hp.n_epochs + 1)
    ]
    total_steps = sum(len(epoch) for epoch in plan)
    save_at = _save_points(plan, hp.save_steps)
    reporter.emit(
        "data",
        rows=data.count_rows(examples, spec.task_type),
        conversations=len(examples),
        tokens=sum(lengths),
        labels=labels,
        total_steps=total_steps,
        total_epochs=hp.n_epochs,
        validation_examples=len(valid),
        packed=packed,
        fused_lora_layers=fused,
        hyperparameters=hp.to_dict(),
    )
    optimizer = _optimizer(trainable, hp)
    schedule = _schedule(optimizer, hp, total_steps)
    done = 0
    resumed_reporter = None
    if resume is not None:
        state = checkpoints.load_state(resume)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if torch.cuda.is_available() and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"])
        done = resume.step
        resumed_reporter = state["reporter"]
        reporter.emit("resumed", step=done, checkpoint=resume.path)

    hidden = int(getattr(base.config, "hidden_size", 0) or 0)
    reporter.start(
        total_steps=total_steps,
        total_epochs=hp.n_epochs,
        work=[
            sum(_work(train[i].length, hidden) for batch in group for i in batch)
            for epoch in plan
            for group in epoch
        ],
        saves=save_at,
        save_work=sum(_work(f.length, hidden) for f in valid) * _VALIDATION_COST,
        resume=resumed_reporter,
    )

    def score_validation() -> dict[str, float] | None:
        return evaluate.validation(net, valid, batch_size=hp.batch_size, score=score)

    def save_checkpoint(step: int, epoch: int, train_loss: float) -> dict[str, float]:
        """Validate, save and prune; the validation metrics (empty without validation data)."""
        metrics = score_validation() or {}
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": schedule.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "reporter": reporter.state(step),
        }
        info = checkpoints.Checkpoint(
            step=step,
            epoch=epoch,
            path="",
            train_loss=round(train_loss, 6),
            valid_loss=metrics.get("valid_loss"),
            perplexity=metrics.get("perplexity"),
            token_accuracy=metrics.get("token_accuracy"),
            reward_accuracy=metrics.get("reward_accuracy"),
        )
        saved = checkpoints.save(
            root,
            info,
            lambda d: model.write_weights(net, tokenizer, d, {**manifest, "step": step}),
            state,
        )
        reporter.emit("checkpoint", **saved.to_dict())
        for removed in checkpoints.prune(root, hp.save_total_limit):
            reporter.emit("checkpoint_removed", step=removed.step, path=removed.path)
        return metrics

    # -- loop -----------------------------------------------------------------------------
    net.train()
    step = 0
    latest_validation: dict[str, float] | None = None
    saved_at = done
    previous_epoch = 0

    def pause_here(at: int) -> None:
        if not pause():
            return
        if at > saved_at:  # save the steps done since the last checkpoint
            with reporter.saving():
                save_checkpoint(at, previous_epoch, reporter.epoch_loss() or 0.0)
        raise report.Paused(at)

    for epoch, groups in enumerate(plan, start=1):
        for group in groups:
            step += 1
            if step <= done:
                continue
            _check(stop, step=step - 1)
            pause_here(step - 1)
            batches = [[train[i] for i in batch] for batch in group]
            targets = sum(target_counts[i] for batch in group for i in batch)
            step_loss, tokens, hits = _optimizer_step(
                net,
                trainable,
                batches,
                targets,
                optimizer,
                schedule,
                score,
                device,
                with_accuracy=reporter.due(step),
            )
            reporter.step(step, epoch, step_loss, tokens, accuracy=hits)
            if group is groups[-1]:
                reporter.end_epoch(epoch, step)
            previous_epoch = epoch
            if step in save_at:
                with reporter.saving():
                    latest_validation = save_checkpoint(step, epoch, reporter.epoch_loss() or 0.0)
                saved_at = step
    _check(stop, step=step)

    # -- evaluation and the result ----------------------------------------------------------
    reporter.emit("preparing", stage="evaluation")
    metrics: dict[str, Any] = {}
    if classify:
        metrics.update(
            evaluate.classification(
                net, valid, batch_size=hp.batch_size, pad_id=tokenizer.pad_token_id, device=device
            )
            or {}
        )
    # the last step always saves (and validates) unless this process resumed after it
    metrics.update(latest_validation if latest_validation is not None else score_validation() or {})
    if packed:
        base.set_attn_implementation("sdpa")  # generation runs unpacked, with a KV cache
    if not classify and not cpt and hp.eval_samples:  # CPT documents have no replies
        metrics.update(
            evaluate.generation(
                net,
                tokenizer,
                preference.conversations(valid_examples) if dpo else valid_examples,
                samples=hp.eval_samples,
                max_seq_len=hp.max_seq_len,
                device=device,
            )
            or {}
        )
    reporter.emit("evaluated", metrics=metrics, validation_examples=len(valid))
    net.eval()
    fmt = model.save(
        net,
        tokenizer,
        Path(spec.output_dir),
        method=spec.method,
        manifest={**manifest, "metrics": metrics, "hyperparameters": hp.to_dict()},
    )
    reporter.emit("saved", path=spec.output_dir, format=fmt)
    reporter.emit(
        "succeeded",
        trained_tokens=reporter.trained_tokens,
        train_loss=round(reporter.last_epoch_loss or 0.0, 6),
    )


def checkpoint_root(spec: jobs.TrainingSpec) -> Path:
    """Where the job's checkpoints live: `<work_dir>/checkpoints`."""
    return Path(spec.work_dir) / "checkpoints"


def _check(stop: Callable[[], bool], *, step: int) -> None:
    if stop():
        raise report.Cancelled(step)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _work(length: int, hidden: int) -> float:
    """Relative cost of training on one example: its tokens, plus attention's share, which
    grows with the length (about length / (12 · hidden) of the dense layers' cost)."""
    return length * (1 + length / (12 * hidden)) if hidden else float(length)


def _save_points(plan: Sequence[Sequence[Any]], save_steps: int) -> set[int]:
    """Global steps after which a checkpoint is saved: every `save_steps` and the last step,
    or the end of every epoch when `save_steps` is 0."""
    total = sum(len(epoch) for epoch in plan)
    if save_steps > 0:
        return {*range(save_steps, total + 1, save_steps), total}
    ends, step = set(), 0
    for epoch in plan:
        step += len(epoch)
        ends.add(step)
    return ends


def _groups(batches: list[list[int]], size: int) -> Iterator[list[list[int]]]:
    """Consecutive micro-batches that make up one optimizer step each."""
    for start in range(0, len(batches), size):
        yield batches[start : start + size]


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


def _optimizer_step(
    net: torch.nn.Module,
    trainable: list[torch.nn.Parameter],
    group: Sequence[Sequence[Any]],
    targets: int,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    score: Callable[..., loss.Scored],
    device: torch.device,
    *,
    with_accuracy: bool,
) -> tuple[torch.Tensor, int, torch.Tensor | None]:
    """Forward/backward each micro-batch, then one optimizer step.

    The loss is the mean over every learnt token (or example) of the step, however the
    micro-batches cut them (`targets` of them in all); returns it and the share of targets
    predicted right (if asked: it costs a pass over the logits; both on the device, nothing
    waits for them) and the step's real tokens.
    """
    total = torch.zeros((), device=device)
    hits = torch.zeros((), device=device)
    tokens = 0
    for batch in group:
        scored = score(net, batch, with_accuracy=with_accuracy)
        step_share = scored.loss_sum / max(1, targets)
        step_share.backward()  # type: ignore[no-untyped-call]
        total += step_share.detach()
        if scored.correct is not None:
            hits += scored.correct.detach()
        tokens += scored.tokens
    torch.nn.utils.clip_grad_norm_(trainable, _MAX_GRAD_NORM)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return total, tokens, hits / max(1, targets) if with_accuracy else None
