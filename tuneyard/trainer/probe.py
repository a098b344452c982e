"""Time the trainer's own optimizer step on small synthetic models, for the calibration.

A training step is more than its GEMMs and attention: norms, rotary, residuals, casts under
bf16, the LoRA fold, dropout, the loss, clipping, and a few thousand operator dispatches
whose cost has no FLOP count. How much of that a step holds differs between CPUs more than
any one constant can say (an AMD EPYC with AVX512-BF16 ran a tiny-chat step's non-GEMM part
~3× what constants fitted on an AVX2 machine priced). So the calibration measures it: it
builds a Llama-style decoder and a BERT-style encoder (hidden 256, random weights, written
and loaded the way base models are), prepares each exactly as `recipe.setup` does (`model.build`,
`recipe.prepare`: LoRA fused, packing where the model packs) and times
`recipe.optimizer_step` on synthetic micro-batches — at 1 and 3 layers and at a few sizes, so
that `core.estimate.fit_overhead` can split what the step's FLOPs do not explain into a cost
per step, per layer, and per token and layer.

The encoder keeps BERT's usual dropout (0.1 on hidden states and attention: what BERT,
RoBERTa and MiniLM checkpoints ship with, and what makes their attention take the math path
in training); the decoder has none, as Llama-style checkpoints.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import transformers

from tuneyard.core import estimate, jobs
from tuneyard.kinds import Method, Objective, TaskType
from tuneyard.trainer import data, model, objectives, precision, recipe

__all__ = ["HIDDEN", "Probe", "ProbeModels", "shape"]

HIDDEN = 256
"""Hidden width of the probe models (tiny-chat's): wide enough that a layer's operators do
real work, narrow enough that a step takes milliseconds."""
_HEADS = 4
_VOCAB = 512
_LABELS = ("a", "b")


def shape(*, encoder: bool, layers: int) -> estimate.Shape:
    """The probe model's shape, as the estimate sees it."""
    return estimate.Shape(
        vocab=_VOCAB,
        hidden=HIDDEN,
        layers=layers,
        heads=_HEADS,
        kv_heads=_HEADS,
        intermediate=4 * HIDDEN if encoder else 688,
        tied=True,
        encoder=encoder,
        positions=512 if encoder else 0,
    )


def _config(encoder: bool, layers: int) -> Any:
    s = shape(encoder=encoder, layers=layers)
    if encoder:
        return transformers.BertConfig(
            vocab_size=s.vocab,
            hidden_size=s.hidden,
            num_hidden_layers=layers,
            num_attention_heads=s.heads,
            intermediate_size=s.intermediate,
            max_position_embeddings=s.positions,
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
            pad_token_id=0,
        )
    return transformers.LlamaConfig(
        vocab_size=s.vocab,
        hidden_size=s.hidden,
        num_hidden_layers=layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.kv_heads,
        intermediate_size=s.intermediate,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Probe:
    """One measured step: the model, its method and dtype, and the micro-batch it ran."""

    encoder: bool
    method: Method
    bf16: bool
    layers: int
    examples: int
    length: int

    @property
    def batch(self) -> list[int]:
        """The micro-batch's example lengths."""
        return [self.length] * self.examples

    @property
    def task_type(self) -> TaskType:
        """A classifier for the encoder, a causal LM (SFT) for the decoder."""
        return TaskType.CLASSIFICATION if self.encoder else TaskType.GENERATION

    def hyperparameters(self) -> jobs.Hyperparameters:
        """The run's settings (LoRA rank 8 on every linear layer)."""
        return jobs.Hyperparameters(
            batch_size=self.examples,
            max_seq_len=max(self.length, 8),
            learning_rate=1e-4,
            lora_rank=8,
            lora_alpha=16,
        )

    def work(self) -> estimate.Work:
        """The step as the estimate sees it (every token learnt; the decoder packed)."""
        return estimate.Work(
            shape=shape(encoder=self.encoder, layers=self.layers),
            method=self.method,
            objective=Objective.SFT,
            task_type=self.task_type,
            hp=self.hyperparameters(),
            train=self.batch,
            valid=[],
            targets=(self.length - 1) / self.length,
            labels=len(_LABELS),
            packed=not self.encoder,
            precision="bf16" if self.bf16 else "fp32",
        )


@dataclasses.dataclass(slots=True)
class _Parts:
    """`recipe.Steps` for a probe model."""

    net: Any
    score: objectives.Score
    device: torch.device
    dtype: precision.Choice
    trainable: list[torch.nn.Parameter]
    optimizer: torch.optim.AdamW
    schedule: Any


class ProbeModels:
    """Synthetic base models written once into a temporary folder, and steps timed on them."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="tuneyard-probe-")
        self._written: dict[tuple[bool, int], Path] = {}

    def close(self) -> None:
        """Remove the models written."""
        self._folder.cleanup()

    def __enter__(self) -> ProbeModels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _model_dir(self, encoder: bool, layers: int) -> Path:
        found = self._written.get((encoder, layers))
        if found is None:
            torch.manual_seed(0)
            config = _config(encoder, layers)
            cls = (
                transformers.BertForSequenceClassification
                if encoder
                else transformers.LlamaForCausalLM
            )
            found = Path(self._folder.name) / f"{'encoder' if encoder else 'decoder'}-{layers}"
            cls(config).save_pretrained(found)
            self._written[(encoder, layers)] = found
        return found

    def seconds(self, probe: Probe, *, budget: float = 0.15) -> float:
        """Seconds of one optimizer step of `probe`: the fastest of its timed steps, as the
        calibration takes its GEMM rates (what the step's FLOPs are priced with), so that
        the rest is the step's own overhead and not the machine's noise."""
        parts = self._parts(probe)
        rng = random.Random(0)
        batch = [_feature(probe, rng) for _ in range(probe.examples)]
        targets = sum(f.n_targets for f in batch)

        def step() -> None:
            recipe.optimizer_step(parts, [batch], targets, with_accuracy=False)

        step()  # the first step makes its kernels and buffers
        best, samples, until = float("inf"), 0, time.perf_counter() + budget
        while samples < 3 or time.perf_counter() < until:
            start = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - start)
            samples += 1
        return best

    def _parts(self, probe: Probe) -> _Parts:
        task = probe.task_type
        objective = objectives.TABLE[task if probe.encoder else Objective.SFT]
        hp = probe.hyperparameters()
        device = torch.device("cpu")
        torch.manual_seed(0)
        net = model.build(
            self._model_dir(probe.encoder, probe.layers),
            task_type=task,
            method=probe.method,
            hyperparameters=hp,
            labels=list(_LABELS) if probe.encoder else None,
            pad_id=0,
        ).to(device)
        net.train()
        _, _, _, trainable, score = recipe.prepare(net, objective, hp, pad_id=0, device=device)
        optimizer = recipe.new_optimizer(trainable, hp)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        dtype = precision.Choice("bf16" if probe.bf16 else "fp32", "calibration probe")
        return _Parts(net, score, device, dtype, trainable, optimizer, schedule)


def _feature(probe: Probe, rng: random.Random) -> data.Feature:
    ids = [rng.randrange(3, _VOCAB) for _ in range(probe.length)]
    if probe.encoder:
        return data.Feature(input_ids=ids, labels=rng.randrange(len(_LABELS)))
    return data.Feature(input_ids=ids, labels=list(ids))
