"""LoRA adapters read straight from a PEFT folder, for the ragged forward.

A folder holds `adapter_config.json` (r, lora_alpha, target_modules, use_rslora, the
per-module rank and alpha patterns) and `adapter_model.safetensors` with one `lora_A` and
one `lora_B` matrix per wrapped linear layer. Each pair becomes a `Pair` with PEFT's scale
(`alpha / r`, or `alpha / √r` with rsLoRA); the forward adds `scale · (x·Aᵀ)·Bᵀ` to the
layer's output for the rows of the sequences using the adapter, exactly as PEFT does.

Only plain LoRA on the decoder's linear layers is read this way; an adapter that needs more
(DoRA, LoRA biases, embedding adapters, saved whole modules, Conv1D layouts) is refused
with `Unsupported`, naming what it uses.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import torch

__all__ = ["CONFIG", "LAYER_MODULES", "WEIGHTS", "Adapter", "Pair", "Unsupported", "load"]

CONFIG = "adapter_config.json"
"""The PEFT adapter's settings file."""

WEIGHTS = "adapter_model.safetensors"
"""The PEFT adapter's weights file."""

LAYER_MODULES = {
    "self_attn.q_proj": "q_proj",
    "self_attn.k_proj": "k_proj",
    "self_attn.v_proj": "v_proj",
    "self_attn.o_proj": "o_proj",
    "mlp.gate_proj": "gate_proj",
    "mlp.up_proj": "up_proj",
    "mlp.down_proj": "down_proj",
}
"""The linear layers of a Llama decoder layer a served adapter may wrap, by short name."""

_KEY = re.compile(
    r"^(?:.*\.)?layers\.(?P<layer>\d+)\.(?P<module>self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)"
    r"\.lora_(?P<side>[AB])(?:\.[^.]+)?\.weight$"
)


class Unsupported(ValueError):
    """The adapter uses a feature the ragged forward does not serve."""


@dataclasses.dataclass(frozen=True, slots=True)
class Pair:
    """One wrapped linear layer: A (r × in), B (out × r) and the scale."""

    a: torch.Tensor
    b: torch.Tensor
    scale: float


@dataclasses.dataclass(frozen=True, slots=True)
class Adapter:
    """A loaded adapter: per decoder layer, the wrapped modules by short name."""

    path: str
    layers: tuple[dict[str, Pair], ...]
    nbytes: int


def load(folder: Path, *, num_layers: int, device: torch.device, dtype: torch.dtype) -> Adapter:
    """Read the adapter in `folder` for a model of `num_layers` decoder layers."""
    from safetensors.torch import load_file

    config = json.loads((folder / CONFIG).read_text("utf-8"))
    _check_config(config)
    tensors = load_file(folder / WEIGHTS)
    found: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        match = _KEY.match(key)
        if match is None:
            raise Unsupported(
                f"{folder}: the adapter holds {key}, which is not plain LoRA on a "
                "decoder layer's linear layers"
            )
        layer = int(match["layer"])
        if layer >= num_layers:
            raise Unsupported(f"{folder}: {key} names layer {layer}, the model has {num_layers}")
        sides = found.setdefault((layer, match["module"]), {})
        sides[match["side"]] = tensor.to(device=device, dtype=dtype)
    layers: list[dict[str, Pair]] = [{} for _ in range(num_layers)]
    nbytes = 0
    for (layer, module), sides in sorted(found.items()):
        if set(sides) != {"A", "B"}:
            raise Unsupported(f"{folder}: layer {layer} {module} lacks lora_A or lora_B")
        a, b = sides["A"], sides["B"]
        rank = a.shape[0]
        if b.shape[1] != rank:
            raise Unsupported(f"{folder}: layer {layer} {module}: A and B ranks differ")
        name = f"model.layers.{layer}.{module}"
        alpha = float(_pattern(config.get("alpha_pattern") or {}, name, config["lora_alpha"]))
        scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
        layers[layer][LAYER_MODULES[module]] = Pair(a, b, scale)
        nbytes += a.numel() * a.element_size() + b.numel() * b.element_size()
    return Adapter(str(folder), tuple(layers), nbytes)


def _check_config(config: dict[str, Any]) -> None:
    """Refuse the PEFT options the forward does not implement."""
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise Unsupported(f"a {config.get('peft_type')} adapter is not LoRA")
    refused = {
        "use_dora": bool(config.get("use_dora")),
        "lora_bias": bool(config.get("lora_bias")),
        "bias": config.get("bias", "none") not in (None, "none"),
        "fan_in_fan_out": bool(config.get("fan_in_fan_out")),
        "modules_to_save": bool(config.get("modules_to_save")),
        "trainable_token_indices": bool(config.get("trainable_token_indices")),
    }
    used = [name for name, on in refused.items() if on]
    if used:
        raise Unsupported(f"the adapter uses {', '.join(used)}, which the engine does not serve")


def _pattern(patterns: dict[str, Any], name: str, default: Any) -> Any:
    """PEFT's per-module override: the value of the first pattern matching `name`'s end."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return value
    return default
