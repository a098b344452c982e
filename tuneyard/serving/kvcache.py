"""The KV cache of the ragged forward: one pool per model, a list of slots per sequence.

vLLM's paged cache with pages of one position, without custom kernels: the pool holds the
keys and values of every sequence of one model, position by position; a sequence owns the
slots it was given, in order, and gives them back when it ends. A step writes all its new
keys and values with one `index_copy_` per layer and gathers a sequence's keys with one
`index_select`. The pool doubles when full and returns to its first size whenever it is
empty, so a burst of long requests does not hold memory afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["FIRST_SLOTS", "KVCache", "KVPool"]

FIRST_SLOTS = 1024
"""Positions a new (or emptied) pool has room for."""


class KVPool:
    """The keys and values of every sequence of one model, position by position:
    `keys[layer, slot]` / `values[layer, slot]` (`[kv_heads, head_dim]` each). A sequence
    owns the slots it was given, in order; free slots are reused. The pool doubles when
    full and returns to its first size whenever it is empty."""

    def __init__(self, shape: tuple[int, int, int], dtype: torch.dtype, device: Any) -> None:
        self._shape, self._dtype, self._device = shape, dtype, device
        self._reset(FIRST_SLOTS)

    def _reset(self, size: int) -> None:
        layers, kv_heads, head_dim = self._shape
        self.keys = torch.empty(
            (layers, size, kv_heads, head_dim), dtype=self._dtype, device=self._device
        )
        self.values = torch.empty_like(self.keys)
        self.free: list[int] = list(range(size - 1, -1, -1))  # pop() hands out 0, 1, 2…

    @property
    def size(self) -> int:
        """Slots in the pool, used or not."""
        return int(self.keys.shape[1])

    def take(self, count: int) -> list[int]:
        """`count` free slots (the pool grows when it has too few)."""
        if count > len(self.free):
            old = self.size
            new = max(2 * old, old + count - len(self.free))
            keys, values = self.keys, self.values
            layers, kv_heads, head_dim = self._shape
            self.keys = keys.new_empty((layers, new, kv_heads, head_dim))
            self.values = torch.empty_like(self.keys)
            self.keys[:, :old] = keys
            self.values[:, :old] = values
            self.free[:0] = range(new - 1, old - 1, -1)
        return [self.free.pop() for _ in range(count)]

    def give(self, slots: Sequence[int]) -> None:
        """Return slots to the pool."""
        self.free.extend(reversed(slots))
        if len(self.free) == self.size and self.size > FIRST_SLOTS:
            self._reset(FIRST_SLOTS)


class KVCache:
    """One sequence's KV cache: the pool slots holding its positions 0, 1, 2, …"""

    def __init__(self, pool: KVPool) -> None:
        self.pool = pool
        self.slots: list[int] = []

    @property
    def length(self) -> int:
        """Positions held."""
        return len(self.slots)

    def extend(self, count: int) -> list[int]:
        """Slots for the next `count` positions."""
        new = self.pool.take(count)
        self.slots += new
        return new

    def fork(self) -> KVCache:
        """An independent copy (a sibling choice sharing the prompt)."""
        copy = KVCache(self.pool)
        if self.slots:
            new = torch.tensor(copy.extend(self.length), device=self.pool.keys.device)
            old = torch.tensor(self.slots, device=self.pool.keys.device)
            self.pool.keys[:, new] = self.pool.keys[:, old]
            self.pool.values[:, new] = self.pool.values[:, old]
        return copy

    def free(self) -> None:
        """Give the slots back to the pool."""
        self.pool.give(self.slots)
        self.slots = []
