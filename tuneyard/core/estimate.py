"""Know before you launch: a training job's peak memory and wall time, from a model of its work.

Pure arithmetic (no torch, no I/O): `Shape` is the base model's architecture (read from its
config.json), `Machine` what a calibration measured on the machine that will train it
(`tuneyard.calibration`), and `Work` the job: the token length of every example the trainer
will see (after truncation, CPT windows and DPO pairs, `features`), its hyperparameters,
method and objective. `estimate` walks the very plan the trainer walks — every epoch's
micro-batches, shuffled and grouped as `trainer.data.epoch_batches` does, packed into one
row as `trainer.packing.pack` does (or right-padded to their longest example when they
cannot be packed) — and adds up:

- memory: the process at rest (`Machine.base_bytes`: interpreter, torch, transformers;
  and bf16 kernels' own share under CPU bf16, `BF16_RUNTIME_BYTES`),
  the fp32 weights (the trainer keeps no separate master copy: it trains in fp32),
  a gradient and AdamW's two fp32 moments per trainable parameter, and the activations the
  backward keeps for the largest micro-batch (per token and layer, by method; logits for
  the learnt positions only when packed), or the copy of the weights a save makes, if larger;
- time: per micro-batch the weight GEMMs (2 FLOPs per weight and token forward, 2 more for
  the input's gradient, 2 more for the weight's gradient when it trains), attention (its
  score and value products grow with each example's length squared), the elementwise
  passes and the dispatch cost of each operator, then per step the optimizer and the
  trainer's fixed overhead; the whole job adds starting the worker, loading the model, the
  DPO reference pass, validation at every checkpoint, the saves and the final evaluation.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from tuneyard.core import dtype
from tuneyard.core.jobs import Hyperparameters
from tuneyard.kinds import Method, Objective, TaskType

__all__ = [
    "Estimate",
    "Machine",
    "Overhead",
    "Params",
    "Shape",
    "Work",
    "estimate",
    "features",
    "fit_overhead",
    "overhead_key",
    "parameters",
    "shape_of",
]

FLOAT = 4
"""Bytes of an fp32 value: weights, gradients, moments and activations are all fp32."""
ACTIVATION_H = 22
"""fp32 values the backward keeps per token, layer and hidden unit of a Llama-style block
(norm inputs and outputs, q/k/v, rotated q/k, attention output, residuals, and the
allocator's share), fitted on tiny-chat and `small`."""
ACTIVATION_I = 4
"""... and per intermediate (MLP) unit: gate, up, the activation, their product."""
ENCODER_H = 16
"""The same per hidden unit of a BERT-style block (no rotary, no gate), fitted on MiniLM."""
ENCODER_I = 2
"""... and per intermediate unit (the GELU's input and output)."""
SETUP_BYTES = 40 << 20
"""What setting a run up adds to a worker at rest: tokenizer, examples, features, modules."""
OPS_PER_LAYER = 110
"""Operators dispatched per layer and micro-batch, forward and backward together."""
OPS_PER_EXAMPLE_LAYER = 6
"""... plus per packed example and layer (the per-example attention split and calls)."""
ELEMENTWISE_H = 60
"""Memory passes over a (tokens × hidden) fp32 tensor per layer, forward and backward
(norms, rotary, residuals, softmax of the loss)..."""
ELEMENTWISE_I = 24
"""... and over a (tokens × intermediate) one (the MLP's activation and product)."""
LORA_FOLD_PASSES = 4
"""Weight-sized memory passes per fold of W + s·B·A (read, write; out of cache)."""
GEMM_FACTOR = 1.0
"""Real training GEMMs (other shapes, transposed operands) against the calibrated ones."""
SETUP_SECONDS = 0.0
"""Setting a run up besides imports and loading: tokenizer, tokenising, the plan."""
LOAD_BYTES_PER_S = 2e8
"""How fast a base model's weights load (safetensors, fp32)."""
GENERATED_MOST = 256
"""Most tokens generated per evaluation reply at the end (`trainer.evaluate`)."""
OPS_PER_DECODE_LAYER = 800
"""Operator dispatches' worth of time per layer and decoding step of transformers'
`generate` (cache update, masks, sampling bookkeeping): ~4 ms a layer on a 2-core EPYC."""
OPTIMIZER_FACTOR = 1.0
"""The trainer's AdamW step (and clipping) against the calibrated one, which is taken over a
model-like set of ~100 tensors out of cache (`trainer.calibrate`). (2.0 when the calibration
took one hot 1M tensor: a MiniLM-sized set measured 1.9 ns a parameter against 0.78 for it.)"""
GENERATION_BATCH = 16
_MAX_HELD_OUT = 1000
_MIN_EXAMPLES_TO_SPLIT = 10
_LENGTH_GROUP_WINDOW = 50


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """A transformer's architecture, as its config.json gives it."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    tied: bool = True
    """Input embedding and output head share one matrix."""
    encoder: bool = False
    """A BERT-style encoder (bidirectional, learnt positions, biases) rather than Llama-style."""
    positions: int = 0
    """Learnt position embeddings (encoders)."""

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden // max(1, self.heads)

    def linears(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one block."""
        kv = self.kv_heads * self.head_dim
        q = self.heads * self.head_dim
        mlp = [(self.hidden, self.intermediate), (self.intermediate, self.hidden)]
        if not self.encoder:
            mlp.insert(0, (self.hidden, self.intermediate))  # gate and up
        return [(self.hidden, q), (self.hidden, kv), (self.hidden, kv), (q, self.hidden), *mlp]


def shape_of(config: Mapping[str, Any]) -> Shape:
    """The shape a Hugging Face config.json describes (Llama-style or BERT-style)."""
    hidden = int(config.get("hidden_size") or config.get("d_model") or 0)
    heads = int(config.get("num_attention_heads") or 1)
    encoder = str(config.get("model_type", "")) in ("bert", "roberta", "distilbert", "xlm-roberta")
    return Shape(
        vocab=int(config.get("vocab_size") or 0),
        hidden=hidden,
        layers=int(config.get("num_hidden_layers") or config.get("n_layer") or 0),
        heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads),
        intermediate=int(config.get("intermediate_size") or 4 * hidden),
        tied=bool(config.get("tie_word_embeddings", True)),
        encoder=encoder,
        positions=int(config.get("max_position_embeddings") or 0) if encoder else 0,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Params:
    """Parameters of the model a run trains: all of them, and those that train."""

    total: int
    trainable: int
    matmul: int
    """Weights a token passes through in the blocks' linear layers (per token: 2 FLOPs each)."""
    matmul_trainable: int
    """Of those, the ones whose gradient is computed (all for FULL, the adapters for LORA)."""

    @property
    def frozen(self) -> int:
        """Parameters that do not train."""
        return self.total - self.trainable


def parameters(
    shape: Shape, method: Method, hp: Hyperparameters, task_type: TaskType, labels: int = 2
) -> Params:
    """Parameters of the base model with its head (and LoRA adapters) as the trainer builds it."""
    h, layers = shape.hidden, shape.layers
    linears = shape.linears()
    block_weights = sum(i * o for i, o in linears)
    norms = (2 if not shape.encoder else 4) * h
    biases = sum(o for _, o in linears) if shape.encoder else 0
    block = block_weights + norms + biases
    embed = shape.vocab * h + shape.positions * h + (2 * h + 2 * h if shape.encoder else 0)
    classify = task_type is TaskType.CLASSIFICATION
    if classify:
        pooler = (h * h + h) if shape.encoder else 0
        head = h * labels + (labels if shape.encoder else 0)
    else:
        pooler, head = 0, 0 if shape.tied else shape.vocab * h
    base = embed + layers * block + h * (0 if shape.encoder else 1) + pooler + head
    if method is Method.FULL:
        return Params(base, base, layers * block_weights, layers * block_weights)
    rank = hp.lora_rank
    wanted = set(hp.lora_target_modules)
    names = (
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        if not shape.encoder
        else ["query", "key", "value", "dense", "dense", "dense"]
    )
    adapters = sum(
        rank * (i + o)
        for (i, o), name in zip(linears, names, strict=True)
        if "all-linear" in wanted or name in wanted
    )
    lora = layers * adapters + (rank * 2 * h if shape.encoder and classify else 0)
    kept_head = head if classify else 0  # PEFT keeps a trainable copy of the classifier
    return Params(
        total=base + lora + kept_head,
        trainable=lora + kept_head,
        matmul=layers * block_weights,
        matmul_trainable=layers * adapters,
    )


BF16_ACTIVATIONS = 0.85
"""Activation bytes per token under bf16 autocast against fp32: the linear layers keep bf16
inputs and outputs, the norms, rotary, attention and loss stay fp32 (measured 0.81–1.03,
median 0.85, on tiny-chat and `small`, LoRA and full, 2,000–8,000 tokens a micro-batch, on
an AMD EPYC with AVX512-BF16)."""
BF16_ROW_MULTIPLE = 64
"""Under CPU bf16 autocast a packed micro-batch is padded up to a multiple of this many
tokens (`trainer.data.shape_multiple`). torch runs bf16 GEMMs on a CPU as oneDNN kernels made
for each shape, and keeps ~1–2 MB for every shape it has seen, beyond any cache setting:
with packed micro-batches of ever-new lengths a long run's memory grew without end (tiny-chat
LoRA: +170 MiB in 45 steps). Padded to a multiple of 64 the shapes are few (< 64 tokens of
padding a micro-batch, their own block, masked out; no slower within the noise of ±10%:
tiny-chat 4.4–4.8 s against 4.5–5.3 s unpadded, peak 712–715 MiB against 790–801).
Right-padded batches are left as they are: their widths are bounded by `max_seq_len`."""
BF16_RUNTIME_BYTES = 64 << 20
"""What a worker holds besides its tensors once it trains in bf16 on a CPU: oneDNN's bf16
kernels and the primitives it caches with their buffers (16 of them, `ONEDNN_PRIMITIVE_CACHE_
CAPACITY` in the workers' environment: 35 MiB of a tiny-chat LoRA run's peak, 730 against 696
MiB at a capacity of 1), and the allocator's share of the casts. Fitted with the activation
ratio over the nine jobs of `bench/estimate.py` on an AMD EPYC with AVX512-BF16, each job's
fp32 error taken out: 69 MiB and 0.83 (the ratio kept at 0.85)."""
BUSY = 0.5
"""Load average per core past which a calibration is taken as measured on a busy machine."""


@dataclasses.dataclass(frozen=True, slots=True)
class Machine:
    """What a calibration measured on one machine (`tuneyard.calibration`)."""

    key: str
    """CPU model, cores, torch version and device: a calibration is redone when it changes."""
    device: str
    """"cpu" or "cuda"."""
    memory_bytes: int
    """Memory of the machine (the GPU's on a GPU)."""
    gemm: tuple[tuple[int, float], ...]
    """(size n, seconds per FLOP) of fp32 (tokens × n) · (n × n) products."""
    attention_s: float
    """Seconds per (head · length² · head width) unit of causal attention, forward + backward."""
    attention_call_s: float
    """Seconds of one attention call's fixed cost (forward + backward)."""
    elementwise_s: float
    """Seconds per byte of a memory-bound elementwise pass."""
    op_s: float
    """Seconds of dispatching one operator (forward or backward)."""
    optimizer_s: float
    """Seconds of one AdamW step per trainable parameter (clipping included)."""
    base_bytes: int
    """Resident memory of a worker at rest: interpreter, torch, transformers, peft."""
    startup_s: float
    """Seconds from a worker's start to its first line of work (imports)."""
    busy: float = 0.0
    """The machine's 1-minute load average per usable core as the measurement began: past
    `BUSY` the rates may be a busy machine's, and the calibration is measured again once the
    machine is quiet (`tuneyard.calibration`)."""
    gemm_bf16: tuple[tuple[int, float], ...] = ()
    """The same products under bf16 autocast (fp32 operands cast on the way in, as the
    trainer's are), on a CPU with native bf16 matrix arithmetic; empty on the others."""
    overheads: Mapping[str, Overhead] = dataclasses.field(default_factory=dict)
    """What a real training step costs beyond its GEMMs and attention, measured per model
    family, method and dtype (`overhead_key`) by timing the trainer's own step
    (`trainer.probe`); empty where not measured (a GPU), which the fixed `ELEMENTWISE_H`,
    `OPS_PER_LAYER` and the dispatch cost `op_s` then price."""

    def overhead(self, *, encoder: bool, method: Method, bf16: bool) -> Overhead | None:
        """The measured step overhead of that family, method and dtype, if measured."""
        return self.overheads.get(overhead_key(encoder=encoder, method=method, bf16=bf16))

    def gemm_s(self, inner: int, outer: int, *, bf16: bool = False) -> float:
        """Seconds per FLOP of a product with these inner and outer widths (in bf16 where
        `bf16` and this machine measured bf16)."""
        size = max(1, min(inner, outer))
        return _interpolated(self.gemm_bf16 if bf16 and self.gemm_bf16 else self.gemm, size)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (what the calibration cache holds)."""
        data = dataclasses.asdict(self)
        data["gemm"] = [list(p) for p in self.gemm]
        data["overheads"] = {
            k: {"step_s": v.step_s, "layer_s": v.layer_s, "passes": [list(p) for p in v.passes]}
            for k, v in self.overheads.items()
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Machine:
        """Inverse of `to_dict`."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        for table in ("gemm", "gemm_bf16"):
            values[table] = tuple((int(n), float(s)) for n, s in data.get(table, ()))
        values["overheads"] = {
            str(k): Overhead(
                step_s=float(v["step_s"]),
                layer_s=float(v["layer_s"]),
                passes=tuple((int(n), float(s)) for n, s in v["passes"]),
            )
            for k, v in (data.get("overheads") or {}).items()
        }
        return cls(**values)

    def precision(self, shape: Shape, setting: str = "auto") -> str:
        """The dtype a run of a model of `shape` trains in here, as `trainer.precision`
        decides it (`core.dtype.decide`), with the calibration's fp32 and bf16 GEMM rates
        at the model's MLP shape standing in for the trainer's measurement."""
        inner = shape.intermediate or 4 * shape.hidden
        chosen, _ = dtype.decide(
            device_type=self.device,
            setting=setting,
            native=bool(self.gemm_bf16),
            fp32_s=self.gemm_s(shape.hidden, inner),
            bf16_s=self.gemm_s(shape.hidden, inner, bf16=True),
        )
        return chosen


@dataclasses.dataclass(frozen=True, slots=True)
class Overhead:
    """A training step's cost beyond what its FLOPs price (`Machine.overheads`)."""

    step_s: float
    """Seconds per optimizer step: the loss, clipping, the optimizer's dispatches."""
    layer_s: float
    """Seconds per layer and micro-batch (forward and backward) whatever its tokens: the
    operators' dispatch, small kernels, autocast's casts of the weights."""
    passes: tuple[tuple[int, float], ...]
    """(tokens of a micro-batch, seconds per byte of a layer's elementwise passes as
    `ELEMENTWISE_H` and `ELEMENTWISE_I` count them: norms, rotary, activations, residuals,
    casts, dropout), measured inside a real layer rather than as one bare pass, at a few
    micro-batch sizes: a pass costs more per byte once its tensors outgrow the caches."""

    def pass_s(self, tokens: int) -> float:
        """Seconds per pass byte at a micro-batch of `tokens` (interpolated in log tokens
        between the sizes measured, the nearest one's beyond them)."""
        return _interpolated(self.passes, tokens) if self.passes else 0.0


def _interpolated(table: Sequence[tuple[int, float]], size: int) -> float:
    """The value at `size` of a table of (size, value) measurements: interpolated in log size
    between the sizes measured, the nearest one's beyond them."""
    ordered = sorted(table)
    if size <= ordered[0][0]:
        return ordered[0][1]
    for (n0, s0), (n1, s1) in itertools.pairwise(ordered):
        if size <= n1:
            return s0 + math.log(size / n0) / math.log(n1 / n0) * (s1 - s0)
    return ordered[-1][1]


def overhead_key(*, encoder: bool, method: Method, bf16: bool) -> str:
    """How `Machine.overheads` names a model family, method and dtype."""
    return f"{'encoder' if encoder else 'decoder'}/{method.value}/{'bf16' if bf16 else 'fp32'}"


def fit_overhead(steps: Sequence[tuple[Work, float]], m: Machine) -> Overhead:
    """The `Overhead` that explains timed steps (`trainer.probe`): each a `Work` whose
    `train` lengths made one micro-batch of one optimizer step, and the seconds it took, on
    models of one width: two depths at a few tokens, then the deeper one at one or more
    larger sizes. What a step took beyond its GEMMs, attention, folds, head and optimizer
    (`_priced_seconds`) is taken as `step_s + layers · (layer_s + tokens · pass bytes ·
    pass_s(tokens))`: the first three steps give `step_s`, `layer_s` and the pass rate at
    the third's size (least squares, none below zero: a term the noise would drive negative
    is taken as none), each further step its own size's pass rate."""
    found = []
    for work, seconds in steps:
        params = parameters(work.shape, work.method, work.hp, work.task_type, work.labels)
        priced = _priced_seconds(work.train, work, params, m, train=True)
        priced += params.trainable * m.optimizer_s * OPTIMIZER_FACTOR
        tokens = _rows(work.train, work.packed, work.precision)
        found.append(
            (work.shape.layers, tokens, tokens * _pass_bytes(work.shape), seconds - priced)
        )
    first = found[:3]
    rows = [(1.0, float(layers), layers * size) for layers, _, size, _ in first]
    values = [residual for *_, residual in first]
    free = [0, 1, 2]
    solved = _least_squares(rows, values)
    while free and any(v < 0 for v in solved):
        free.pop(min(range(len(free)), key=lambda i: solved[i]))
        solved = _least_squares([[row[i] for i in free] for row in rows], values)
    terms = [0.0, 0.0, 0.0]
    for i, v in zip(free, solved, strict=True):
        terms[i] = max(0.0, v)
    step_s, layer_s = terms[0], terms[1]
    passes = [(first[-1][1], terms[2])]
    for layers, tokens, size, residual in found[3:]:
        passes.append((tokens, max(0.0, ((residual - step_s) / layers - layer_s) / size)))
    return Overhead(step_s=step_s, layer_s=layer_s, passes=tuple(sorted(passes)))


def _least_squares(rows: Sequence[Sequence[float]], values: Sequence[float]) -> list[float]:
    """x minimising |rows·x − values|² (normal equations, Gauss-Jordan; few unknowns)."""
    n = len(rows[0]) if rows else 0
    if n == 0:
        return []
    scale = [max(abs(r[j]) for r in rows) or 1.0 for j in range(n)]
    a = [
        [sum(r[i] * r[j] / (scale[i] * scale[j]) for r in rows) for j in range(n)] for i in range(n)
    ]
    b = [sum(r[i] / scale[i] * v for r, v in zip(rows, values, strict=True)) for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda k: abs(a[k][col]))
        a[col], a[pivot], b[col], b[pivot] = a[pivot], a[col], b[pivot], b[col]
        if abs(a[col][col]) < 1e-12:
            return [0.0] * n
        for k in range(n):
            if k != col:
                f = a[k][col] / a[col][col]
                a[k] = [x - f * y for x, y in zip(a[k], a[col], strict=True)]
                b[k] -= f * b[col]
    return [b[i] / a[i][i] / scale[i] for i in range(n)]


@dataclasses.dataclass(frozen=True, slots=True)
class Work:
    """A job as the estimate sees it."""

    shape: Shape
    method: Method
    objective: Objective
    task_type: TaskType
    hp: Hyperparameters
    """Resolved: no "auto" left (see `Hyperparameters.resolve_auto`)."""
    train: Sequence[int]
    """Token length of every training feature (a DPO pair: both sequences)."""
    valid: Sequence[int]
    """... and of every validation feature."""
    targets: float = 1.0
    """Share of the tokens that are learnt (their logits are computed when packed)."""
    labels: int = 2
    packed: bool = True
    """Micro-batches are packed into one row (causal LMs that can); else right-padded."""
    precision: str = "fp32"
    """The dtype it trains in: "fp32", or "bf16" autocast (`Machine.precision`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Estimate:
    """What a job will take: memory, time, tokens, and whether it fits."""

    peak_memory_bytes: int
    """Process RSS on a CPU; allocated GPU memory on a GPU."""
    train_seconds: float
    """The training loop: every optimizer step."""
    job_seconds: float
    """The whole job: start, loading, reference pass, loop, validation, saves, evaluation."""
    tokens: int
    """Tokens trained (every epoch's)."""
    steps: int
    parameters: int
    trainable_parameters: int
    memory_available_bytes: int
    """What a worker of this machine may use."""
    device: str
    breakdown: dict[str, float] = dataclasses.field(default_factory=dict)
    """Memory terms (bytes) and time terms (seconds) it is made of."""

    @property
    def fits(self) -> bool:
        """Whether the peak fits the memory a worker may use."""
        return self.peak_memory_bytes <= self.memory_available_bytes

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the API's, the CLI's and the job's)."""
        return {
            "peak_memory_bytes": self.peak_memory_bytes,
            "train_seconds": round(self.train_seconds, 1),
            "job_seconds": round(self.job_seconds, 1),
            "tokens": self.tokens,
            "steps": self.steps,
            "parameters": self.parameters,
            "trainable_parameters": self.trainable_parameters,
            "memory_available_bytes": self.memory_available_bytes,
            "fits": self.fits,
            "device": self.device,
            "breakdown": {k: round(v, 3) for k, v in self.breakdown.items()},
        }

    def describe(self) -> str:
        """One line for people: peak memory, times, tokens."""
        return (
            f"estimated peak memory {_mib(self.peak_memory_bytes)} of "
            f"{_mib(self.memory_available_bytes)} available, training {self.train_seconds:.0f} s "
            f"(whole job {self.job_seconds:.0f} s), {self.tokens} tokens in {self.steps} steps"
        )


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def features(
    lengths: Sequence[int], objective: Objective, task_type: TaskType, max_seq_len: int
) -> list[int]:
    """The feature lengths the trainer makes from the examples' token counts (as validation
    counts them: whole, a preference pair's two conversations added up): truncated to
    `max_seq_len`, documents cut into windows (plus their end token), pairs two sequences."""
    if task_type is TaskType.CLASSIFICATION:
        return [min(n, max_seq_len) for n in lengths]
    if objective is Objective.DPO:
        return [2 * min(max(1, n // 2), max_seq_len) for n in lengths]
    if objective is Objective.CPT:
        found = []
        for n in lengths:
            whole, rest = divmod(n + 1, max_seq_len)
            found += [max_seq_len] * whole + ([rest] if rest > 1 else [])
        return found
    return [min(n, max_seq_len) for n in lengths]


def split(lengths: Sequence[int], share: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) lengths: the trainer's held-out share (at least 1, at most 1,000;
    none below 10 examples), drawn at random."""
    if share <= 0 or len(lengths) < _MIN_EXAMPLES_TO_SPLIT:
        return list(lengths), []
    held = min(_MAX_HELD_OUT, max(1, round(len(lengths) * share)))
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:held])
    return [n for i, n in enumerate(lengths) if i not in chosen], [lengths[i] for i in chosen]


def plan(lengths: Sequence[int], hp: Hyperparameters, *, packed: bool) -> list[list[list[int]]]:
    """Every optimizer step of every epoch as its micro-batches' example lengths, batched
    the way `trainer.data.epoch_batches` does (grouped by length when padded)."""
    steps: list[list[list[int]]] = []
    for epoch in range(1, hp.n_epochs + 1):
        order = list(range(len(lengths)))
        rng = random.Random(hp.seed * 1_000_003 + epoch)
        rng.shuffle(order)
        if not packed:
            window = hp.batch_size * _LENGTH_GROUP_WINDOW
            order = [
                i
                for start in range(0, len(order), window)
                for i in sorted(order[start : start + window], key=lambda i: -lengths[i])
            ]
        batches = [
            [lengths[i] for i in order[s : s + hp.batch_size]]
            for s in range(0, len(order), hp.batch_size)
        ]
        group = hp.gradient_accumulation_steps
        steps += [batches[s : s + group] for s in range(0, len(batches), group)]
    return steps


def estimate(work: Work, machine: Machine, *, memory_available: int) -> Estimate:
    """The job's peak memory and times on `machine`, and whether it fits `memory_available`."""
    shape, hp = work.shape, work.hp
    params = parameters(shape, work.method, hp, work.task_type, work.labels)
    steps = plan(work.train, hp, packed=work.packed)
    micro = [batch for step in steps for batch in step]
    tokens = sum(sum(b) for b in micro)

    # -- memory ---------------------------------------------------------------------------
    # The moments live from the first step on; the gradients only from the backward to
    # the optimizer step, when the activations are gone but AdamW's temporaries are not.
    weights = params.total * FLOAT
    moments = params.trainable * 2 * FLOAT
    widest = max((_rows(b, work.packed, work.precision) for b in micro), default=0)
    per_token = _activation_bytes(shape, work.method, hp, work.precision)
    vocab = shape.vocab if work.task_type is TaskType.GENERATION else work.labels
    logits = widest * (work.targets if work.packed else 1.0) * vocab * FLOAT * 4
    activations = widest * per_token + logits
    step = params.trainable * 3 * FLOAT  # gradients + the optimizer's temporaries
    save_copy = weights if work.method is Method.FULL else params.trainable * FLOAT
    state = moments + step
    runtime = BF16_RUNTIME_BYTES if work.precision == "bf16" and machine.device == "cpu" else 0
    base = machine.base_bytes + runtime
    peak = base + SETUP_BYTES + weights + moments + max(activations, step, save_copy)

    # -- time -----------------------------------------------------------------------------
    loop = sum(_step_seconds(step, work, params, machine) for step in steps)
    valid = _forward_seconds(work.valid, work, params, machine)
    saves = _checkpoints(hp, len(steps))
    save_s = saves * (valid + _save_seconds(params, machine))
    # the reference pass (before the trainer picks its dtype) and generation run in fp32
    fp32 = dataclasses.replace(work, precision="fp32")
    reference = _forward_seconds(work.train, fp32, params, machine) if _dpo(work) else 0.0
    generation = _generation_seconds(fp32, params, machine)
    load = machine.startup_s + SETUP_SECONDS + weights / LOAD_BYTES_PER_S
    predict = valid if work.task_type is TaskType.CLASSIFICATION else 0.0
    job = load + reference + loop + save_s + predict + generation + _save_seconds(params, machine)
    return Estimate(
        peak_memory_bytes=int(peak),
        train_seconds=loop,
        job_seconds=job,
        tokens=tokens,
        steps=len(steps),
        parameters=params.total,
        trainable_parameters=params.trainable,
        memory_available_bytes=memory_available,
        device=machine.device,
        breakdown={
            "memory_base_bytes": base,
            "memory_weights_bytes": weights,
            "memory_optimizer_bytes": state,
            "memory_activations_bytes": activations,
            "widest_batch_tokens": widest,
            "seconds_startup": load,
            "seconds_reference": reference,
            "seconds_validation_and_saves": save_s,
            "seconds_evaluation": predict + generation,
        },
    )


def _dpo(work: Work) -> bool:
    return work.objective is Objective.DPO and work.task_type is TaskType.GENERATION


def _rows(batch: Sequence[int], packed: bool, precision: str = "fp32") -> int:
    """Tokens the model runs for a micro-batch: packed, their sum (rounded up to
    `BF16_ROW_MULTIPLE` under bf16); padded, width × rows."""
    if not packed:
        return max(batch) * len(batch)
    multiple = BF16_ROW_MULTIPLE if precision == "bf16" else 1
    return -(-sum(batch) // multiple) * multiple


def _activation_bytes(shape: Shape, method: Method, hp: Hyperparameters, precision: str) -> float:
    """Bytes the backward keeps per token of a micro-batch, over every layer."""
    if shape.encoder:
        per_layer = ENCODER_H * shape.hidden + ENCODER_I * shape.intermediate
    else:
        per_layer = ACTIVATION_H * shape.hidden + ACTIVATION_I * shape.intermediate
    if method is Method.LORA:
        per_layer += 7 * hp.lora_rank
    return shape.layers * per_layer * FLOAT * (BF16_ACTIVATIONS if precision == "bf16" else 1.0)


def _matmul_seconds(
    rows: float, params: Params, shape: Shape, m: Machine, *, train: bool, bf16: bool
) -> float:
    per_flop = sum(m.gemm_s(i, o, bf16=bf16) * i * o for i, o in shape.linears()) / max(
        1, sum(i * o for i, o in shape.linears())
    )
    passes = 2 if not train else (4 if params.matmul_trainable < params.matmul else 6)
    return rows * params.matmul * passes * per_flop * GEMM_FACTOR


def _attention_seconds(batch: Sequence[int], shape: Shape, m: Machine, *, train: bool) -> float:
    share = (1.0 if train else 1 / 3) * (2 if shape.encoder else 1)  # encoders see both ways
    units = sum(n * n for n in batch) * shape.heads * shape.head_dim * shape.layers
    return share * (units * m.attention_s + len(batch) * shape.layers * m.attention_call_s)


def _micro_seconds(
    batch: Sequence[int], work: Work, params: Params, m: Machine, *, train: bool
) -> float:
    return _priced_seconds(batch, work, params, m, train=train) + _overhead_seconds(
        batch, work, m, train=train
    )


def _priced_seconds(
    batch: Sequence[int], work: Work, params: Params, m: Machine, *, train: bool
) -> float:
    """A micro-batch's GEMMs, attention, LoRA folds and output head, from their sizes and
    the machine's measured rates."""
    shape = work.shape
    rows = _rows(batch, work.packed, work.precision)
    bf16 = work.precision == "bf16"
    matmul = _matmul_seconds(rows, params, shape, m, train=train, bf16=bf16)
    attention = _attention_seconds(
        batch if work.packed else [max(batch)] * len(batch), shape, m, train=train
    )
    folds = 0.0
    if work.method is Method.LORA and params.matmul_trainable:
        # each pass forms W + s·B·A and stacks it with A (`trainer.lora`): weight-sized copies
        folds = (4 if train else 2) * LORA_FOLD_PASSES * params.matmul * FLOAT * m.elementwise_s
    head_s = 0.0
    if work.task_type is TaskType.GENERATION:  # a classifier's head is a few columns
        head = rows * (work.targets if work.packed else 1.0) * shape.vocab * shape.hidden * 2
        head_s = head * (3 if train else 1) * m.gemm_s(shape.hidden, shape.vocab, bf16=bf16)
    examples = len(batch) if work.packed else 1
    share = 1.0 if train else 1 / 3
    per_example = share * shape.layers * OPS_PER_EXAMPLE_LAYER * examples * m.op_s
    return matmul + attention + folds + head_s + per_example


def _overhead_seconds(batch: Sequence[int], work: Work, m: Machine, *, train: bool) -> float:
    """The rest of a micro-batch: elementwise passes and operators' fixed costs, measured
    in a real step where the machine has (`Machine.overheads`), else priced by constants."""
    shape = work.shape
    rows = _rows(batch, work.packed, work.precision)
    share = 1.0 if train else 1 / 3
    measured = _overhead(work, m)
    if measured is not None:
        per_layer = measured.layer_s + rows * _pass_bytes(shape) * measured.pass_s(rows)
        return share * shape.layers * per_layer
    elementwise = rows * shape.layers * _pass_bytes(shape) * m.elementwise_s
    return share * (elementwise + shape.layers * OPS_PER_LAYER * m.op_s)


def _overhead(work: Work, m: Machine) -> Overhead | None:
    return m.overhead(encoder=work.shape.encoder, method=work.method, bf16=work.precision == "bf16")


def _pass_bytes(shape: Shape) -> float:
    """Bytes of a layer's elementwise passes per token (`ELEMENTWISE_H`, `ELEMENTWISE_I`)."""
    return (ELEMENTWISE_H * shape.hidden + ELEMENTWISE_I * shape.intermediate) * FLOAT


def _step_seconds(step: Sequence[Sequence[int]], work: Work, params: Params, m: Machine) -> float:
    micro = sum(_micro_seconds(b, work, params, m, train=True) for b in step)
    measured = _overhead(work, m)
    fixed = measured.step_s if measured is not None else 0.0
    return micro + params.trainable * m.optimizer_s * OPTIMIZER_FACTOR + fixed


def _forward_seconds(lengths: Sequence[int], work: Work, params: Params, m: Machine) -> float:
    """One pass without gradients over `lengths` in batches of the run's batch size."""
    size = work.hp.batch_size
    return sum(
        _micro_seconds(lengths[s : s + size], work, params, m, train=False)
        for s in range(0, len(lengths), size)
    )


def _generation_seconds(work: Work, params: Params, m: Machine) -> float:
    """Greedy replies to the evaluation samples, 16 at a time: a prompt pass, then one
    forward of the batch per new token, priced at its bound (`trainer.evaluate.replies_room`:
    the longest reply + 16, at most 256 and half of max_seq_len past the prompt; a reply is
    taken as the learnt share of its conversation). A tuned model that ends its replies
    sooner takes less: this is the most the evaluation takes, not its expectation."""
    if work.task_type is not TaskType.GENERATION or work.objective is Objective.CPT:
        return 0.0
    samples = sorted(work.valid[: work.hp.eval_samples])
    if not samples:
        return 0.0
    shape = work.shape
    total = 0.0
    for start in range(0, len(samples), GENERATION_BATCH):
        batch = samples[start : start + GENERATION_BATCH]
        longest = max(batch) // (2 if work.objective is Objective.DPO else 1)
        reply = int(longest * work.targets)
        room = max(work.hp.max_seq_len - (longest - reply), work.hp.max_seq_len // 2)
        new = max(1, min(GENERATED_MOST, reply + 16, room))
        prompt = _micro_seconds([longest] * len(batch), work, params, m, train=False)
        rows = len(batch)
        per_token = (
            shape.layers * OPS_PER_DECODE_LAYER * m.op_s
            + 2 * rows * (params.matmul + shape.vocab * shape.hidden) * m.gemm_s(128, 128)
            + shape.layers * rows * shape.heads * shape.head_dim * longest * 4 * m.elementwise_s
        )
        total += prompt + new * per_token
    return total


def _save_seconds(params: Params, m: Machine) -> float:
    """Writing a checkpoint: the trained weights and the optimizer state (~1 GB/s)."""
    return 0.05 + params.trainable * 4 * FLOAT / 1e9 + params.total * FLOAT / 1e9 * 0.2


def _checkpoints(hp: Hyperparameters, steps: int) -> int:
    """Checkpoints the run saves (each validated): every save_steps and the last step, or
    one per epoch."""
    if hp.save_steps > 0:
        return len({*range(hp.save_steps, steps + 1, hp.save_steps), steps})
    return hp.n_epochs
