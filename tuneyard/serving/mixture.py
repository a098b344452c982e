"""Per-row LoRA for a batch whose rows use different adapters, in a few matmuls per layer.

The adapters loaded on one model live side by side in a `Bank`, in chunks of up to
`MAX_ADAPTERS`. For each fused projection (q|k|v, o, gate|up, down) of each layer, a chunk
holds its adapters' A matrices stacked into one `A_all` (all their ranks, `R` rows) and,
per wrapped module, their B matrices side by side (`B_m`, `width × R_m`). A row's delta is

    P = (x·A_allᵀ) ⊙ s_row        y[:, module m] += P[:, ranks of m]·B_mᵀ

where `s_row` holds, in the rank columns of the row's own adapter, that module's LoRA scale
and zero everywhere else (all zero for a row on the base alone, or on an adapter of another
chunk): one matmul, a table lookup and one matmul per module, whatever the mix of adapters
in the batch. The extra work, `tokens × R` per projection, stays small next to the
projection itself at `MAX_ADAPTERS` adapters a chunk.

An adapter's tensors are views into its chunk's (a chunk is rebuilt when an adapter joins
or leaves it), so a loaded adapter costs its own size in memory, once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from tuneyard.serving import adapters

__all__ = ["MAX_ADAPTERS", "Bank", "Member", "Use", "apply"]

MAX_ADAPTERS = 8
"""Adapters one chunk lays side by side."""


@dataclasses.dataclass(eq=False)
class Member:
    """An adapter in the bank: per decoder layer, its wrapped modules (views into its
    chunk's tensors)."""

    path: str
    layers: list[dict[str, adapters.Pair]]
    nbytes: int
    chunk: _Chunk | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Module:
    columns: tuple[int, int]
    ranks: tuple[int, int]
    b: torch.Tensor
    b_t: torch.Tensor  # b.t(), kept to save the call per step


@dataclasses.dataclass(frozen=True, slots=True)
class _Part:
    a: torch.Tensor
    a_t: torch.Tensor
    scales: torch.Tensor  # one tensor for every part laid out alike (see `_Chunk._shared`)
    modules: tuple[_Module, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Use:
    """A chunk a step uses: every token's scale-table row, and the per-token scales
    looked up so far this step (by scale table)."""

    chunk: _Chunk
    rows: torch.Tensor
    looked: dict[int, torch.Tensor]


class _Chunk:
    """Up to MAX_ADAPTERS members laid side by side."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.parts: list[dict[str, _Part]] = []
        self._shared: dict[tuple[object, ...], torch.Tensor] = {}

    def index(self, member: Member | None) -> int:
        """The scale-table row of `member` (0: not in this chunk)."""
        for position, mine in enumerate(self.members, start=1):
            if mine is member:
                return position
        return 0

    def rebuild(self, widths: dict[str, tuple[tuple[str, int], ...]], num_layers: int) -> None:
        """Lay the members out again (after one joined or left)."""
        self.parts = []
        self._shared = {}
        for layer in range(num_layers):
            found: dict[str, _Part] = {}
            for group, modules in widths.items():
                part = self._part(layer, modules)
                if part is not None:
                    found[group] = part
            self.parts.append(found)

    def _part(self, layer: int, modules: tuple[tuple[str, int], ...]) -> _Part | None:
        a_parts: list[torch.Tensor] = []
        laid: list[tuple[str, tuple[int, int], list[tuple[Member, adapters.Pair]]]] = []
        column = rank = 0
        for name, width in modules:
            holders = [(m, m.layers[layer][name]) for m in self.members if name in m.layers[layer]]
            if holders:
                a_parts += [pair.a for _, pair in holders]
                laid.append((name, (column, column + width), holders))
            column += width
        if not laid:
            return None
        a_all = torch.cat(a_parts)
        layout: list[tuple[int, int, int, float]] = []
        built: list[_Module] = []
        for name, columns, holders in laid:
            start = rank
            b_all = torch.cat([pair.b for _, pair in holders], dim=1)
            offset = 0
            for member, pair in holders:
                r = pair.a.shape[0]
                layout.append((self.index(member), rank, rank + r, pair.scale))
                member.layers[layer][name] = adapters.Pair(
                    a_all[rank : rank + r], b_all[:, offset : offset + r], pair.scale
                )
                rank += r
                offset += r
            built.append(_Module(columns, (start, rank), b_all, b_all.t()))
        return _Part(a_all, a_all.t(), self._scales(layout, a_all), tuple(built))

    def _scales(
        self, layout: list[tuple[int, int, int, float]], like: torch.Tensor
    ) -> torch.Tensor:
        """The scale table of a layout (rows: members, columns: ranks), one tensor for all
        the parts that share it, so a step looks it up once."""
        key = (like.shape[0], *layout)
        found = self._shared.get(key)
        if found is None:
            found = like.new_zeros((len(self.members) + 1, like.shape[0]))
            for row, low, high, scale in layout:
                found[row, low:high] = scale
            self._shared[key] = found
        return found


class Bank:
    """The adapters loaded on one model, and how a step applies them per row."""

    def __init__(self, widths: dict[str, tuple[tuple[str, int], ...]], num_layers: int) -> None:
        self.widths = widths
        self.num_layers = num_layers
        self.chunks: list[_Chunk] = []

    def add(self, adapter: adapters.Adapter) -> Member:
        """Put `adapter` in the bank; the member is the handle rows carry."""
        member = Member(adapter.path, [dict(layer) for layer in adapter.layers], adapter.nbytes)
        chunk = next((c for c in self.chunks if len(c.members) < MAX_ADAPTERS), None)
        if chunk is None:
            chunk = _Chunk()
            self.chunks.append(chunk)
        chunk.members.append(member)
        member.chunk = chunk
        chunk.rebuild(self.widths, self.num_layers)
        return member

    def remove(self, member: Member) -> None:
        """Take `member` out of the bank (its memory is freed with the last view)."""
        chunk = member.chunk
        if chunk is None or member not in chunk.members:
            return
        chunk.members.remove(member)
        member.chunk = None
        if chunk.members:
            chunk.rebuild(self.widths, self.num_layers)
        else:
            self.chunks.remove(chunk)

    def plan(
        self, members: Sequence[Member | None], counts: Sequence[int], device: torch.device
    ) -> list[Use]:
        """For a step whose rows (with `counts` tokens each) use `members`: the chunks in
        use, each with every token's scale-table row."""
        used = [c for c in self.chunks if any(m is not None and m.chunk is c for m in members)]
        plans: list[Use] = []
        for chunk in used:
            rows: list[int] = []
            for member, count in zip(members, counts, strict=True):
                rows += [chunk.index(member)] * count
            plans.append(Use(chunk, torch.tensor(rows, device=device), {}))
        return plans


def apply(y: torch.Tensor, x: torch.Tensor, plans: Sequence[Use], layer: int, group: str) -> None:
    """Add to `y`, the projection `group` of `x` at `layer`, each row's adapter delta."""
    for use in plans:
        part = use.chunk.parts[layer].get(group)
        if part is None:
            continue
        scales = use.looked.get(id(part.scales))
        if scales is None:
            scales = use.looked[id(part.scales)] = part.scales.index_select(0, use.rows)
        projected = (x @ part.a_t) * scales
        for module in part.modules:
            (first, last), (low, high) = module.columns, module.ranks
            y[:, first:last].addmm_(projected[:, low:high], module.b_t)
