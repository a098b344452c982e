"""What a decoding step hands a model runner, and what every runner offers.

A step gives the runner one `Row` per running sequence (its new tokens, its cache, its
adapter) and gets back the logits of the last token of each row that wants them. Two
runners implement `Runner`: `tuneyard.serving.llama.Llama` (the ragged, batched forward)
and `tuneyard.serving.fallback.Fallback` (any model, one sequence at a time).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

__all__ = ["Cache", "Row", "Runner"]


class Cache(Protocol):
    """One sequence's KV cache: how many positions it holds, and a way to copy it."""

    @property
    def length(self) -> int:
        """Positions held."""

    def fork(self) -> Cache:
        """An independent copy."""

    def free(self) -> None:
        """Give its memory back (the sequence ended)."""


@dataclasses.dataclass(slots=True)
class Row:
    """One sequence's part of a step: its new tokens, its cache, its adapter (a runner's
    handle, or None for the base alone), and whether its last token's logits are wanted."""

    tokens: Sequence[int]
    cache: Any
    adapter: Any = None
    logits: bool = True


class Runner(Protocol):
    """Runs a batch of rows through one base model with per-row adapters."""

    vocab_size: int

    def new_cache(self, capacity: int) -> Cache:
        """An empty cache with room for about `capacity` positions."""

    def forward(self, rows: Sequence[Row]) -> torch.Tensor:
        """Append each row's tokens to its cache; the last logits of rows that want them."""

    def load_adapter(self, folder: Path) -> Any:
        """Load the PEFT adapter in `folder`; returns the handle rows carry."""

    def unload_adapter(self, adapter: Any) -> None:
        """Free a loaded adapter."""
