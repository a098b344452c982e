"""Model FLOPs of a training pass, counted as the PaLM paper does, from the real batch shapes.

PaLM's model FLOPs (Chowdhery et al. 2022, appendix B) are the matrix products the model
needs, whatever the engine really runs: every weight GEMM (2 FLOPs per multiply-add) and
attention's two products, scores `Q·Kᵀ` and values `P·V`, forward and backward (twice the
forward). Attention is counted over the whole square of each example's length, as PaLM's
`12·L·H·Q·T` does, not only its causal half. Nothing else counts: not the norms, the
activations, the softmax, the optimizer, nor recomputation (gradient checkpointing) or
padding an engine chooses to do.

The shapes are the real ones: each example's own tokens (padding excluded) and, with
per-example attention, each example's own length as the attention span. The output head
is counted on the positions the loss needs (`targets`: the learnt next tokens).

LoRA trains only its adapters: a frozen weight costs its forward and the gradient of its
input (`4` FLOPs per multiply-add and token), not its weight gradient; an adapter `A`
(r × in) and `B` (out × r) costs `6·r·(in + out)` per token (forward, input and weight
gradients). The first layer's projections of the (frozen) embeddings need no input
gradient under LoRA: nothing trainable lies before them. Full fine-tuning pays `6` per
multiply-add everywhere.

Pure arithmetic: no torch; a model is described by its `Architecture`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from typing import Any

__all__ = ["Architecture", "Count", "Example", "forward", "training"]

_INPUT_SIDE = frozenset({"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"})
"""A Llama layer's projections that read the layer's (normed) input."""


@dataclasses.dataclass(frozen=True, slots=True)
class Architecture:
    """The shapes of a Llama-style decoder that decide its FLOPs."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @classmethod
    def of(cls, config: Any) -> Architecture:
        """Read a transformers Llama-style config (Llama, Qwen2, Mistral, …)."""
        hidden = int(config.hidden_size)
        heads = int(config.num_attention_heads)
        head_dim = getattr(config, "head_dim", None) or hidden // heads
        return cls(
            hidden=hidden,
            intermediate=int(config.intermediate_size),
            layers=int(config.num_hidden_layers),
            heads=heads,
            kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
            head_dim=int(head_dim),
            vocab=int(config.vocab_size),
        )

    def linears(self) -> tuple[tuple[str, int, int], ...]:
        """One layer's weight matrices as (name, in features, out features)."""
        d, i = self.hidden, self.intermediate
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return (
            ("q_proj", d, q),
            ("k_proj", d, kv),
            ("v_proj", d, kv),
            ("o_proj", q, d),
            ("gate_proj", d, i),
            ("up_proj", d, i),
            ("down_proj", i, d),
        )

    def layer_weights(self) -> int:
        """Multiply-adds per token of one layer's weight matrices (= their parameters)."""
        return sum(n_in * n_out for _, n_in, n_out in self.linears())


@dataclasses.dataclass(frozen=True, slots=True)
class Example:
    """One example's real shape: its tokens and the positions whose output the loss uses."""

    length: int
    targets: int


@dataclasses.dataclass(frozen=True, slots=True)
class Count:
    """Model FLOPs by part; `total` is their sum."""

    weights: float
    """The decoder layers' weight GEMMs (frozen or trained)."""
    adapters: float
    """The LoRA matrices (0 for full fine-tuning)."""
    attention: float
    """Scores and values, per example over its own length."""
    head: float
    """The output projection to the vocabulary, on the target positions."""
    tokens: int
    """Real tokens counted."""

    @property
    def total(self) -> float:
        """All model FLOPs."""
        return self.weights + self.adapters + self.attention + self.head

    def __add__(self, other: Count) -> Count:
        return Count(
            weights=self.weights + other.weights,
            adapters=self.adapters + other.adapters,
            attention=self.attention + other.attention,
            head=self.head + other.head,
            tokens=self.tokens + other.tokens,
        )


def training(
    arch: Architecture,
    examples: Iterable[Example],
    *,
    method: str,
    lora_rank: int = 0,
    lora_modules: Collection[str] | None = None,
) -> Count:
    """Model FLOPs of one forward and backward pass over `examples`.

    `method` is "full" or "lora"; LoRA wraps `lora_modules` (a layer's linear names; None:
    all of them) with rank `lora_rank`. Each example attends within itself.
    """
    if method not in ("full", "lora"):
        raise ValueError(f"method must be 'full' or 'lora', not {method!r}")
    tokens = targets = 0
    squares = 0
    for example in examples:
        tokens += example.length
        targets += example.targets
        squares += example.length * example.length
    attention = 12.0 * arch.layers * arch.heads * arch.head_dim * squares
    if method == "full":
        return Count(
            weights=6.0 * arch.layers * arch.layer_weights() * tokens,
            adapters=0.0,
            attention=attention,
            head=6.0 * arch.hidden * arch.vocab * targets,
            tokens=tokens,
        )
    wrapped = {name for name, _, _ in arch.linears()} if lora_modules is None else lora_modules
    first_layer_inputs = sum(
        n_in * n_out for name, n_in, n_out in arch.linears() if name in _INPUT_SIDE
    )
    weights = 4.0 * arch.layers * arch.layer_weights() - 2.0 * first_layer_inputs
    adapters = sum(
        6.0 * lora_rank * (n_in + n_out) for name, n_in, n_out in arch.linears() if name in wrapped
    )
    return Count(
        weights=weights * tokens,
        adapters=arch.layers * adapters * tokens,
        attention=attention,
        head=4.0 * arch.hidden * arch.vocab * targets,
        tokens=tokens,
    )


def forward(
    arch: Architecture,
    examples: Iterable[Example],
    *,
    lora_rank: int = 0,
    lora_modules: Collection[str] | None = None,
) -> Count:
    """Model FLOPs of a forward pass only (validation, a reference model's scores), with
    LoRA adapters of `lora_rank` on `lora_modules` (None: every linear) if the rank is set."""
    tokens = targets = squares = 0
    for example in examples:
        tokens += example.length
        targets += example.targets
        squares += example.length * example.length
    wrapped = {name for name, _, _ in arch.linears()} if lora_modules is None else lora_modules
    adapters = sum(
        2.0 * lora_rank * (n_in + n_out) for name, n_in, n_out in arch.linears() if name in wrapped
    )
    return Count(
        weights=2.0 * arch.layers * arch.layer_weights() * tokens,
        adapters=arch.layers * adapters * tokens,
        attention=4.0 * arch.layers * arch.heads * arch.head_dim * squares,
        head=2.0 * arch.hidden * arch.vocab * targets,
        tokens=tokens,
    )
