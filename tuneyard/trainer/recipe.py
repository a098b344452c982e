"""One training run, top to bottom: `setup → train → save_checkpoint → finish`.

`run` emits the protocol events as it goes and ends with `saved` + `succeeded`; it raises
`report.Cancelled` when `stop()` turns true at a step boundary (nothing is saved then) and
`report.Failed` for a training file that fails validation. Any other exception escapes.

A run that finds a checkpoint of its job (a worker killed earlier, a retried job) resumes
from the newest: weights, optimizer, schedule and RNG come back, and the epochs replay the
same batches (their order depends only on the seed and the epoch), skipping those done.
A job may instead start from an earlier job's model or checkpoint (`spec.start_from`).

The objective (SFT, DPO, CPT or classification) is a row of `objectives.TABLE`, picked
from the spec: the loop is the same for all, only the row's data, scoring and evaluation
parts differ. The loop's state lives in one `Run`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
import transformers

from tuneyard.core import jobs, protocol
from tuneyard.datasets import examples as ex
from tuneyard.trainer import (
    checkpoints,
    data,
    evaluate,
    lora,
    model,
    objectives,
    packing,
    precision,
    report,
)

__all__ = [
    "Run",
    "Steps",
    "checkpoint_root",
    "finish",
    "new_optimizer",
    "optimizer_step",
    "prepare",
    "run",
    "save_checkpoint",
    "setup",
    "train",
]

_MAX_GRAD_NORM = 1.0
_VALIDATION_COST = 1 / 3
"""Cost of a validation token relative to a training token (forward only)."""


@dataclasses.dataclass(slots=True)
class Run:
    """One run's parts and its loop state, built by `setup` and carried through to `finish`."""

    spec: jobs.TrainingSpec
    hp: jobs.Hyperparameters
    """The hyperparameters with their "auto" values resolved."""
    objective: objectives.Objective
    reporter: report.Reporter
    stop: Callable[[], bool]
    pause: Callable[[], bool]
    tokenizer: Any
    net: Any
    base: Any
    """The model under the adapters and heads (what packing and attention settings apply to)."""
    device: torch.device
    packed: bool
    trainable: list[torch.nn.Parameter]
    manifest: dict[str, Any]
    score: objectives.Score
    """The objective's micro-batch scorer, bound to this run's packing, padding and device."""
    dtype: precision.Choice
    """The dtype the loop trains in (bf16 autocast only where this CPU measured it faster)."""
    train: list[Any]
    valid: list[Any]
    valid_examples: list[ex.Example]
    target_counts: list[int]
    plan: list[list[list[list[int]]]]
    """Every epoch's optimizer steps, each a group of micro-batches of example indices."""
    save_at: set[int]
    optimizer: torch.optim.AdamW
    schedule: Any
    done: int
    """Steps a resumed run had already taken (0 for a fresh run)."""
    step: int = 0
    epoch: int = 0
    """The epoch of the last step taken."""
    saved_at: int = 0
    """The step of the last checkpoint saved."""
    latest_validation: dict[str, float] | None = None
    """The validation metrics of the checkpoint this process saved last."""


def run(
    spec: jobs.TrainingSpec,
    reporter: report.Reporter,
    stop: Callable[[], bool],
    pause: Callable[[], bool] = lambda: False,
    *,
    precision_setting: str = "auto",
) -> None:
    """Train the spec's model on its training file and save it into `spec.output_dir`.

    At every step boundary: `stop()` true ends the run with `report.Cancelled` (nothing
    saved); `pause()` true saves a checkpoint of the steps done and ends it with
    `report.Paused` (the job resumes from that checkpoint). `precision_setting` is
    `precision.SETTINGS`' "auto" or "fp32" (forced)."""
    state = setup(spec, reporter, stop, pause, precision_setting=precision_setting)
    train(state)
    finish(state)


def setup(
    spec: jobs.TrainingSpec,
    reporter: report.Reporter,
    stop: Callable[[], bool],
    pause: Callable[[], bool],
    *,
    precision_setting: str = "auto",
) -> Run:
    """Everything before the first step: data, model, the plan of steps, the training
    dtype, a checkpoint to resume from."""
    problems = spec.hyperparameters.problems()
    if problems:
        raise ValueError("invalid hyperparameters: " + "; ".join(problems))
    hp = spec.hyperparameters
    torch.manual_seed(hp.seed)
    objective = objectives.of(spec)
    root = checkpoint_root(spec)

    # -- data ---------------------------------------------------------------------------
    reporter.emit(protocol.Preparing(stage="model"))
    base_dir = model.resolve(spec.base_model)
    _check(stop, step=0)
    reporter.emit(protocol.Preparing(stage="data"))
    examples = data.load_examples(spec)
    held_out = data.load_validation(spec)
    if held_out is None:
        train_examples, valid_examples = data.split_validation(
            examples, hp.validation_split, hp.seed
        )
    else:
        train_examples, valid_examples = examples, held_out
    hp = hp.resolve_auto(len(train_examples), spec.method, spec.objective)
    labels = objective.labels([*examples, *(held_out or [])]) if objective.labels else None
    tokenizer = model.load_tokenizer(base_dir)
    train_set = objective.tokenise(train_examples, tokenizer, hp.max_seq_len, labels)
    valid_set = objective.tokenise(valid_examples, tokenizer, hp.max_seq_len, labels)
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
    base, packed, fused, trainable, score = prepare(
        net, objective, hp, pad_id=tokenizer.pad_token_id, device=device
    )
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
    _check(stop, step=0)
    if objective.reference is not None:  # the model as the job started: computed once, kept
        reporter.emit(protocol.Preparing(stage="reference"))
        train_set, valid_set = (
            objective.reference(
                net,
                features,
                batch_size=hp.batch_size,
                packed=packed,
                pad_id=tokenizer.pad_token_id,
                device=device,
                cache=Path(spec.work_dir) / f"{objective.name}-reference-{name}.pt",
            )
            for features, name in ((train_set, "train"), (valid_set, "validation"))
        )
        _check(stop, step=0)

    # -- plan: every epoch's batches, steps and checkpoints are known before the loop ------
    lengths = [f.length for f in train_set]
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
    state = checkpoints.load_state(resume) if resume is not None else None
    kept = state.get("precision") if state is not None else None
    if kept in ("fp32", "bf16") and device.type == "cpu" and precision_setting == "auto":
        # a resumed run keeps the dtype the run began in: the same weights as a run never
        # interrupted, where measuring again could choose the other one near the threshold
        dtype = precision.Choice(kept, "kept from the checkpoint the run resumes")
    else:
        dtype = _precision(base, device, precision_setting, lengths, plan)
    reporter.emit(
        protocol.Data(
            rows=objective.rows(examples),
            conversations=len(examples),
            tokens=sum(lengths),
            labels=labels,
            total_steps=total_steps,
            total_epochs=hp.n_epochs,
            validation_examples=len(valid_set),
            packed=packed,
            fused_lora_layers=fused,
            precision=dtype.dtype if device.type == "cpu" else None,
            hyperparameters=hp.to_dict(),
        )
    )
    optimizer = new_optimizer(trainable, hp)
    schedule = _schedule(optimizer, hp, total_steps)
    done = 0
    resumed_reporter = None
    if resume is not None and state is not None:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if torch.cuda.is_available() and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"])
        done = resume.step
        resumed_reporter = state["reporter"]
        reporter.emit(protocol.Resumed(step=done, checkpoint=resume.path))

    hidden = int(getattr(base.config, "hidden_size", 0) or 0)
    reporter.start(
        total_steps=total_steps,
        total_epochs=hp.n_epochs,
        work=[
            sum(_work(train_set[i].length, hidden) for batch in group for i in batch)
            for epoch in plan
            for group in epoch
        ],
        saves=save_at,
        save_work=sum(_work(f.length, hidden) for f in valid_set) * _VALIDATION_COST,
        resume=resumed_reporter,
    )
    return Run(
        spec=spec,
        hp=hp,
        objective=objective,
        reporter=reporter,
        stop=stop,
        pause=pause,
        tokenizer=tokenizer,
        net=net,
        base=base,
        device=device,
        packed=packed,
        trainable=trainable,
        manifest=manifest,
        score=score,
        dtype=dtype,
        train=train_set,
        valid=valid_set,
        valid_examples=valid_examples,
        target_counts=[f.n_targets for f in train_set],
        plan=plan,
        save_at=save_at,
        optimizer=optimizer,
        schedule=schedule,
        done=done,
        saved_at=done,
    )


def train(run: Run) -> None:
    """Every planned optimizer step not yet done, saving a checkpoint where planned."""
    reporter = run.reporter
    run.net.train()
    for epoch, groups in enumerate(run.plan, start=1):
        for group in groups:
            run.step += 1
            if run.step <= run.done:
                continue
            _check(run.stop, step=run.step - 1)
            _pause_if_asked(run, run.step - 1)
            batches = [[run.train[i] for i in batch] for batch in group]
            targets = sum(run.target_counts[i] for batch in group for i in batch)
            lr = float(run.optimizer.param_groups[0]["lr"])  # what this step uses
            step_loss, tokens, hits = optimizer_step(
                run, batches, targets, with_accuracy=reporter.due(run.step)
            )
            reporter.step(run.step, epoch, step_loss, tokens, accuracy=hits, lr=lr)
            if group is groups[-1]:
                reporter.end_epoch(epoch, run.step)
            run.epoch = epoch
            if run.step in run.save_at:
                with reporter.saving():
                    run.latest_validation = save_checkpoint(
                        run, run.step, reporter.epoch_loss() or 0.0
                    )
                run.saved_at = run.step
    _check(run.stop, step=run.step)


def save_checkpoint(run: Run, step: int, train_loss: float) -> dict[str, float]:
    """Validate, save a checkpoint of the first `step` steps and prune old ones; the
    validation metrics (empty without validation data)."""
    reporter = run.reporter
    metrics = _validation(run) or {}
    state = {
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.schedule.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "reporter": reporter.state(step),
        "precision": run.dtype.dtype,
    }
    info = checkpoints.Checkpoint(
        step=step,
        epoch=run.epoch,
        path="",
        train_loss=round(train_loss, 6),
        valid_loss=metrics.get("valid_loss"),
        perplexity=metrics.get("perplexity"),
        token_accuracy=metrics.get("token_accuracy"),
        reward_accuracy=metrics.get("reward_accuracy"),
    )
    root = checkpoint_root(run.spec)
    saved = checkpoints.save(
        root,
        info,
        lambda d: model.write_weights(run.net, run.tokenizer, d, {**run.manifest, "step": step}),
        state,
    )
    reporter.emit(saved)
    for removed in checkpoints.prune(root, run.hp.save_total_limit):
        reporter.emit(protocol.CheckpointRemoved(step=removed.step, path=removed.path))
    return metrics


def finish(run: Run) -> None:
    """Evaluate the trained model and save it into `spec.output_dir`."""
    reporter, spec, hp, objective = run.reporter, run.spec, run.hp, run.objective
    reporter.emit(protocol.Preparing(stage="evaluation"))
    metrics: dict[str, Any] = {}
    if objective.predict is not None:
        metrics.update(
            objective.predict(
                run.net,
                run.valid,
                batch_size=hp.batch_size,
                pad_id=run.tokenizer.pad_token_id,
                device=run.device,
            )
            or {}
        )
    # the last step always saves (and validates) unless this process resumed after it
    latest = run.latest_validation
    metrics.update(latest if latest is not None else _validation(run) or {})
    if run.packed:
        run.base.set_attn_implementation("sdpa")  # generation runs unpacked, with a KV cache
    if objective.conversations is not None and hp.eval_samples:
        metrics.update(
            evaluate.generation(
                run.net,
                run.tokenizer,
                objective.conversations(run.valid_examples),
                samples=hp.eval_samples,
                max_seq_len=hp.max_seq_len,
                device=run.device,
            )
            or {}
        )
    reporter.emit(protocol.Evaluated(metrics=metrics, validation_examples=len(run.valid)))
    run.net.eval()
    fmt = model.save(
        run.net,
        run.tokenizer,
        Path(spec.output_dir),
        method=spec.method,
        manifest={**run.manifest, "metrics": metrics, "hyperparameters": hp.to_dict()},
    )
    reporter.emit(protocol.Saved(path=spec.output_dir, format=fmt))
    reporter.emit(
        protocol.Succeeded(
            trained_tokens=reporter.trained_tokens,
            train_loss=round(reporter.last_epoch_loss or 0.0, 6),
        )
    )


def checkpoint_root(spec: jobs.TrainingSpec) -> Path:
    """Where the job's checkpoints live: `<work_dir>/checkpoints`."""
    return Path(spec.work_dir) / "checkpoints"


def _validation(run: Run) -> dict[str, float] | None:
    """The validation metrics of the model as it is now (None without validation data)."""
    with precision.autocast(run.device, run.dtype):
        return evaluate.validation(
            run.net, run.valid, batch_size=run.hp.batch_size, score=run.score
        )


def _pause_if_asked(run: Run, at: int) -> None:
    """At a step boundary `at` a pause asked for saves the steps done since the last
    checkpoint and ends the run with `report.Paused`."""
    if not run.pause():
        return
    if at > run.saved_at:
        with run.reporter.saving():
            save_checkpoint(run, at, run.reporter.epoch_loss() or 0.0)
    raise report.Paused(at)


def _check(stop: Callable[[], bool], *, step: int) -> None:
    if stop():
        raise report.Cancelled(step)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _precision(
    base: Any, device: torch.device, setting: str, lengths: Sequence[int], plan: Any
) -> precision.Choice:
    """fp32, or bf16 autocast where this CPU has native bf16 and a measurement at the
    model's MLP shape with a mean micro-batch's tokens shows it faster."""
    batches = [batch for epoch in plan[:1] for group in epoch for batch in group]
    rows = sum(lengths[i] for batch in batches for i in batch) // max(1, len(batches))
    hidden = int(getattr(base.config, "hidden_size", 0) or 0)
    inner = int(getattr(base.config, "intermediate_size", 0) or 4 * hidden)
    return precision.choose(device, setting, in_features=hidden, out_features=inner, rows=rows)


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


def new_optimizer(
    trainable: list[torch.nn.Parameter], hp: jobs.Hyperparameters
) -> torch.optim.AdamW:
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


class Steps(Protocol):
    """What one optimizer step uses (a `Run` has it; so does `trainer.probe`'s model)."""

    net: Any
    device: torch.device
    dtype: precision.Choice
    trainable: list[torch.nn.Parameter]
    optimizer: torch.optim.AdamW
    schedule: Any

    @property
    def score(self) -> objectives.Score:
        """The objective's micro-batch scorer."""


def prepare(
    net: Any,
    objective: objectives.Objective,
    hp: jobs.Hyperparameters,
    *,
    pad_id: int,
    device: torch.device,
) -> tuple[Any, bool, int, list[torch.nn.Parameter], objectives.Score]:
    """The built model made ready to train: (its base, packed or not, LoRA layers fused,
    the trainable parameters, the objective's scorer bound to them)."""
    base = model.base_of(net)
    packed = objective.packs and packing.supports_packing(base)
    if packed:
        packing.enable(base)
    fused = lora.fuse(net)
    trainable = [p for p in net.parameters() if p.requires_grad]
    score = functools.partial(objective.score(hp), packed=packed, pad_id=pad_id, device=device)
    return base, packed, fused, trainable, score


def optimizer_step(
    run: Steps, group: Sequence[Sequence[Any]], targets: int, *, with_accuracy: bool
) -> tuple[torch.Tensor, int, torch.Tensor | None]:
    """Forward/backward each micro-batch, then one optimizer step.

    The loss is the mean over every learnt token (or example) of the step, however the
    micro-batches cut them (`targets` of them in all); returns it and the share of targets
    predicted right (if asked: it costs a pass over the logits; both on the device, nothing
    waits for them) and the step's real tokens.
    """
    total = torch.zeros((), device=run.device)
    hits = torch.zeros((), device=run.device)
    tokens = 0
    for batch in group:
        with precision.autocast(run.device, run.dtype):
            scored = run.score(run.net, batch, with_accuracy=with_accuracy)
        step_share = scored.loss_sum / max(1, targets)
        step_share.backward()  # type: ignore[no-untyped-call]
        total += step_share.detach()
        if scored.correct is not None:
            hits += scored.correct.detach()
        tokens += scored.tokens
    torch.nn.utils.clip_grad_norm_(run.trainable, _MAX_GRAD_NORM)
    run.optimizer.step()
    run.schedule.step()
    run.optimizer.zero_grad(set_to_none=True)
    return total, tokens, hits / max(1, targets) if with_accuracy else None
