"""What one training job asks of a cluster: CPUs, GPUs and memory, from its model and method.

`estimate` is arithmetic over a `ModelSize` and the job's hyperparameters (no I/O);
`model_size` reads a base model's size from its files (safetensors headers and
config.json) without loading any weights, so the server never imports torch for it.

The trainer trains in fp32 (4 bytes a parameter). A FULL run holds weights, gradients and
AdamW's two moments for every parameter (16 bytes each); a LORA run holds the frozen
weights plus that state for the adapters only (rank r on each of ~7 linear layers of a
block: 2·r·hidden parameters each). Activations are ~68 bytes a token, a layer and a
hidden unit in fp32 (twice the 34 of Korthikanti et al.'s fp16 count, no recomputation),
for `batch_size × max_seq_len` tokens; an unknown shape counts one more copy of the weights.
A fixed runtime share covers the interpreter, torch, the tokenizer and the data.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import struct
from pathlib import Path

from tuneyard.core.jobs import BaseModelRef, Hyperparameters
from tuneyard.kinds import Method

__all__ = ["ModelSize", "Resources", "estimate", "model_size"]

WEIGHT_BYTES = 4
"""fp32 weights, as the trainer loads them."""
TRAINED_BYTES = 16
"""Weights + gradients + AdamW's two moments, per trained parameter (fp32)."""
ACTIVATION_BYTES = 68
"""Saved activations per token, layer and hidden unit in fp32."""
LORA_LINEARS_PER_LAYER = 7
"""q, k, v, o, gate, up, down: what "all-linear" wraps in a Llama-style block."""
RUNTIME_BYTES = 1 << 30
"""Python, torch, the tokenizer and the dataset, whatever the model."""
PARAMETERS_PER_CPU = 250_000_000
"""A CPU-only run asks one more core per this many parameters (up to `MAX_CPUS`)."""
MAX_CPUS = 8

_LAYER = re.compile(r"\.(?:layers|layer|h)\.(\d+)\.")


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSize:
    """How big a base model is: its parameters and, when known, its shape."""

    parameters: int
    hidden_size: int = 0
    """Width of the residual stream; 0 when unknown."""
    layers: int = 0
    """Transformer blocks; 0 when unknown."""


@dataclasses.dataclass(frozen=True, slots=True)
class Resources:
    """What a worker is scheduled with: Ray's `num_cpus`, `num_gpus` and `memory`."""

    cpus: float
    gpus: float
    memory_bytes: int
    """Host memory the worker may use (bytes)."""
    training_bytes: int
    """The run's estimated footprint on its device (the GPU's memory on a GPU)."""


def estimate(
    size: ModelSize, method: Method, hyperparameters: Hyperparameters, *, gpu: bool
) -> Resources:
    """The resources one run of `method` on a model of `size` needs; `gpu` when it should
    train on one (the cluster has GPUs)."""
    weights = size.parameters * WEIGHT_BYTES
    if method is Method.FULL:
        trained = size.parameters * TRAINED_BYTES
    else:
        adapters = _lora_parameters(size, hyperparameters.lora_rank)
        trained = weights + adapters * TRAINED_BYTES
    tokens = hyperparameters.batch_size * hyperparameters.max_seq_len
    if size.hidden_size and size.layers:
        activations = tokens * size.layers * size.hidden_size * ACTIVATION_BYTES
    else:
        activations = weights
    training = trained + activations
    if gpu:  # the host holds the weights once while loading them onto the device
        return Resources(
            cpus=1, gpus=1, memory_bytes=weights + RUNTIME_BYTES, training_bytes=training
        )
    cpus = min(MAX_CPUS, 1 + size.parameters // PARAMETERS_PER_CPU)
    return Resources(
        cpus=cpus, gpus=0, memory_bytes=training + RUNTIME_BYTES, training_bytes=training
    )


def _lora_parameters(size: ModelSize, rank: int) -> int:
    if size.hidden_size and size.layers:
        return 2 * rank * size.hidden_size * LORA_LINEARS_PER_LAYER * size.layers
    return math.ceil(size.parameters * 0.02)  # a typical share when the shape is unknown


def model_size(ref: BaseModelRef) -> ModelSize:
    """The size of a job's base model, read from its files (0 parameters if none are found)."""
    if ref.source == "tiny-chat":  # its shipped weights, until it is built
        from tuneyard.basemodels import tinychat

        built = Path(ref.path) if ref.path else None
        if built is not None and (built / "config.json").is_file():
            return read_size(built)
        return read_size(tinychat.WEIGHTS.parent)
    if ref.source == "minilm-l6":
        from tuneyard.basemodels import minilm

        return read_size(minilm.model_dir())
    return read_size(Path(ref.path or "."))


def read_size(folder: Path) -> ModelSize:
    """Parameters from the weight files in `folder` (safetensors headers; else fp32 `.bin`
    sizes); the shape from its config.json, else from the tensors' names and shapes."""
    tensors: dict[str, list[int]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update(_shapes(path))
    parameters = sum(math.prod(shape) for shape in tensors.values())
    if not parameters:
        parameters = sum(f.stat().st_size for f in folder.glob("*.bin")) // WEIGHT_BYTES
    try:
        config = json.loads((folder / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    hidden = config.get("hidden_size") or config.get("d_model")
    layers = config.get("num_hidden_layers") or config.get("n_layer")
    if not isinstance(hidden, int):
        hidden = next((s[-1] for n, s in tensors.items() if n.endswith("embed_tokens.weight")), 0)
    if not isinstance(layers, int):
        found = {m.group(1) for n in tensors if (m := _LAYER.search(n))}
        layers = len(found)
    return ModelSize(parameters=parameters, hidden_size=hidden, layers=layers)


def _shapes(path: Path) -> dict[str, list[int]]:
    """Each tensor's shape, from a safetensors file's JSON header (its length first)."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(min(length, 100_000_000)))
    except (OSError, ValueError, struct.error):
        return {}
    if not isinstance(header, dict):
        return {}
    return {
        name: [int(d) for d in entry.get("shape") or []]
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict)
    }
