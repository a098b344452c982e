"""A ragged forward pass over Llama-architecture weights, with a KV cache per sequence.

One step runs the new tokens of every sequence in the batch at once — a whole prompt (or a
chunk of it) for a sequence that is prefilling, one token for a sequence that is decoding —
concatenated into one `[tokens, hidden]` tensor, so every linear layer is one GEMM for the
whole batch. Each token is rotated (RoPE) at its own position. RMSNorm, SwiGLU and the LM
head are the Hugging Face model's own modules and weights: nothing is copied, one model
serves every adapter.

Each sequence has its own KV cache: a list of slots in the model's `KVPool` (vLLM's paged
cache with pages of one position, without custom kernels). A step writes every new key and
value into the pool with one `index_copy_` per layer; the decoding sequences (one new token
each) then attend together, their cached keys gathered into one padded batch with a mask,
and each prompt attends causally over its own slots.

LoRA is applied per row (`tuneyard.serving.mixture`): each row gets `scale · (x·Aᵀ)·Bᵀ` of
its own adapter's modules, so sequences on different adapters (or none) share one batch.
Grouped-query attention (fewer key/value heads than query heads) is supported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tuneyard.serving import adapters, batch, kvcache, mixture

__all__ = ["Llama", "supports"]

_ARCHITECTURES = ("llama", "mistral")


def supports(model: Any) -> bool:
    """Whether `model` (a transformers causal LM) can run the ragged forward."""
    config = model.config
    window = getattr(config, "sliding_window", None)
    inner = getattr(model, "model", None)
    return (
        getattr(config, "model_type", None) in _ARCHITECTURES
        and (window is None or window >= getattr(config, "max_position_embeddings", 0))
        and inner is not None
        and hasattr(inner, "rotary_emb")
        and hasattr(model, "lm_head")
    )


class Llama:
    """The ragged forward over a transformers `LlamaForCausalLM` (or a model built alike).

    q|k|v and gate|up are fused into one GEMM each: their weights are concatenated once and
    the model's own parameters become views of the result, so memory is not doubled.
    """

    def __init__(self, model: Any) -> None:
        config = model.config
        self.model = model
        self.embed = model.model.embed_tokens
        self.layers = list(model.model.layers)
        self.norm = model.model.norm
        self.rotary = model.model.rotary_emb
        self.lm_head = model.lm_head
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(getattr(config, "num_key_value_heads", None) or self.heads)
        self.head_dim = int(
            getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        )
        self.scaling = float(self.head_dim**-0.5)
        self.vocab_size = int(self.lm_head.weight.shape[0])
        weight = self.embed.weight
        self.device, self.dtype = weight.device, weight.dtype
        self.pool = kvcache.KVPool(
            (len(self.layers), self.kv_heads, self.head_dim), self.dtype, self.device
        )
        self.groups = {
            "qkv": _widths(self.layers[0].self_attn, ("q_proj", "k_proj", "v_proj")),
            "o": _widths(self.layers[0].self_attn, ("o_proj",)),
            "gate_up": _widths(self.layers[0].mlp, ("gate_proj", "up_proj")),
            "down": _widths(self.layers[0].mlp, ("down_proj",)),
        }
        self.bank = mixture.Bank(self.groups, len(self.layers))
        # Llama's rotate_half(x) = cat(-x2, x1) as one gather and a sign (exactly the same
        # numbers): x[..., rotation] * signs
        half = self.head_dim // 2
        self._rotation = torch.cat([torch.arange(half, 2 * half), torch.arange(half)]).to(
            self.device
        )
        self._signs = torch.cat([-torch.ones(half), torch.ones(half)]).to(self.device, self.dtype)
        self.fused = [
            {
                "qkv": _fuse(layer.self_attn, ("q_proj", "k_proj", "v_proj")),
                "o": _fuse(layer.self_attn, ("o_proj",)),
                "gate_up": _fuse(layer.mlp, ("gate_proj", "up_proj")),
                "down": _fuse(layer.mlp, ("down_proj",)),
            }
            for layer in self.layers
        ]

    @property
    def num_layers(self) -> int:
        """Decoder layers (what an adapter's layer indices refer to)."""
        return len(self.layers)

    def new_cache(self, capacity: int) -> kvcache.KVCache:
        """An empty cache (slots are taken from the pool as positions are added)."""
        return kvcache.KVCache(self.pool)

    def load_adapter(self, folder: Path) -> mixture.Member:
        """Read the LoRA adapter in `folder` onto this model's device and dtype, into its
        bank of adapters."""
        adapter = adapters.load(
            folder, num_layers=self.num_layers, device=self.device, dtype=self.dtype
        )
        return self.bank.add(adapter)

    def unload_adapter(self, adapter: mixture.Member) -> None:
        """Take the adapter out of the bank."""
        self.bank.remove(adapter)

    @torch.inference_mode()
    def forward(self, rows: Sequence[batch.Row]) -> torch.Tensor:
        """Run each row's tokens through the model, appending to its cache; returns the
        logits of the last token of each row that wants them, in row order."""
        spans: list[_Span] = []
        ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        for row in rows:
            cache: kvcache.KVCache = row.cache
            past, count = cache.length, len(row.tokens)
            spans.append(_Span(len(ids), len(ids) + count, row, past))
            ids.extend(row.tokens)
            positions.extend(range(past, past + count))
            slots.extend(cache.extend(count))
        plan = _Plan.of(spans, self.device)
        mixes = self.bank.plan(
            [span.row.adapter for span in spans],
            [span.end - span.start for span in spans],
            self.device,
        )
        total = len(ids)
        packed = torch.tensor(ids + positions + slots, device=self.device)  # one copy in
        where = packed[2 * total :]
        hidden: torch.Tensor = self.embed(packed[:total])
        cos, sin = self.rotary(hidden, packed[total : 2 * total][None])
        cos, sin = cos[0][:, None, :], sin[0][:, None, :] * self._signs  # see `_rotation`
        q_width, kv_width = self.heads * self.head_dim, self.kv_heads * self.head_dim
        heads = self.heads + self.kv_heads
        for index, layer in enumerate(self.layers):
            fused = self.fused[index]
            x = _rms_norm(hidden, layer.input_layernorm)
            qkv = self._project(x, fused["qkv"], index, "qkv", mixes)
            qk = qkv[:, : q_width + kv_width].view(total, heads, self.head_dim)
            qk = qk * cos + qk.index_select(-1, self._rotation) * sin  # RoPE, q and k at once
            q, k = qk[:, : self.heads], qk[:, self.heads :]
            v = qkv[:, q_width + kv_width :].view(total, self.kv_heads, self.head_dim)
            keys, values = self.pool.keys[index], self.pool.values[index]
            keys.index_copy_(0, where, k)
            values.index_copy_(0, where, v)
            out = self._attend(q, keys, values, plan)
            hidden = hidden + self._project(out, fused["o"], index, "o", mixes)
            x = _rms_norm(hidden, layer.post_attention_layernorm)
            gate_up = self._project(x, fused["gate_up"], index, "gate_up", mixes)
            gate, up = gate_up.chunk(2, dim=-1)
            hidden = hidden + self._project(
                layer.mlp.act_fn(gate) * up, fused["down"], index, "down", mixes
            )
        placed = {id(span.row): span.end - 1 for span in spans}
        last = [placed[id(row)] for row in rows if row.logits]
        if not last:
            return hidden.new_empty((0, self.vocab_size))
        picked = hidden[torch.tensor(last, device=self.device)]
        return self.lm_head(_rms_norm(picked, self.norm))  # type: ignore[no-any-return]

    def _attend(
        self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, plan: _Plan
    ) -> torch.Tensor:
        """Each row's queries over its cached keys/values (the new ones already written):
        single-token rows in one padded batch, longer rows (prompts) one by one."""
        out = q.new_empty((q.shape[0], self.heads, self.head_dim))
        grouped = self.kv_heads != self.heads
        if plan.single is not None and plan.gather is not None:
            shape = (*plan.gather.shape, self.kv_heads, self.head_dim)
            flat = plan.gather.view(-1)
            queries = q if plan.every else q.index_select(0, plan.single)
            attended = F.scaled_dot_product_attention(
                queries.unsqueeze(2),
                keys.index_select(0, flat).view(shape).transpose(1, 2),
                values.index_select(0, flat).view(shape).transpose(1, 2),
                attn_mask=plan.mask,
                scale=self.scaling,
                enable_gqa=grouped,
            )
            if plan.every:
                out = attended[:, :, 0]
            else:
                out.index_copy_(0, plan.single, attended[:, :, 0])
        for span, slots in plan.long:
            past, count = span.past, span.end - span.start
            seen = past + count
            mask: torch.Tensor | None = None
            if past > 0:  # a prompt chunk after earlier ones
                mask = (
                    torch.arange(seen, device=q.device)[None, :]
                    <= (torch.arange(past, seen, device=q.device)[:, None])
                )
            attended = F.scaled_dot_product_attention(
                q[span.start : span.end].transpose(0, 1)[None],
                keys.index_select(0, slots).transpose(0, 1)[None],
                values.index_select(0, slots).transpose(0, 1)[None],
                attn_mask=mask,
                is_causal=past == 0,
                scale=self.scaling,
                enable_gqa=grouped,
            )
            out[span.start : span.end] = attended[0].transpose(0, 1)
        return out.reshape(q.shape[0], self.heads * self.head_dim)

    @staticmethod
    def _project(
        x: torch.Tensor,
        weights: tuple[torch.Tensor, torch.Tensor | None],
        index: int,
        group: str,
        plans: Sequence[mixture.Use],
    ) -> torch.Tensor:
        """A (fused) projection for every row, plus each row's own adapter delta."""
        y = F.linear(x, weights[0], weights[1])
        mixture.apply(y, x, plans, index, group)
        return y


def _widths(parent: Any, names: Sequence[str]) -> tuple[tuple[str, int], ...]:
    return tuple((name, int(getattr(parent, name).weight.shape[0])) for name in names)


def _fuse(parent: Any, names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) for the linear layers `names` of `parent`, in that order; the
    layers' own parameters become views of it."""
    modules = [getattr(parent, name) for name in names]
    if len(modules) == 1:
        return modules[0].weight.detach(), _detached(modules[0].bias)
    weight = torch.cat([m.weight.detach() for m in modules])
    biases = [m.bias for m in modules]
    bias = None
    if any(b is not None for b in biases):
        bias = torch.cat(
            [
                b.detach() if b is not None else weight.new_zeros(m.weight.shape[0])
                for b, m in zip(biases, modules, strict=True)
            ]
        )
    row = 0
    for module in modules:
        rows = module.weight.shape[0]
        module.weight = torch.nn.Parameter(weight[row : row + rows], requires_grad=False)
        if module.bias is not None and bias is not None:
            module.bias = torch.nn.Parameter(bias[row : row + rows], requires_grad=False)
        row += rows
    return weight, bias


def _detached(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach()


@dataclasses.dataclass(frozen=True, slots=True)
class _Span:
    """Where a row's tokens sit in the step's token tensor, and its cache length before."""

    start: int
    end: int
    row: batch.Row
    past: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """How a step attends: the single-token rows as one padded batch (their token
    indices, the pool slots to gather per row, the padding mask) and the longer ones."""

    single: torch.Tensor | None
    gather: torch.Tensor | None
    mask: torch.Tensor | None
    long: list[tuple[_Span, torch.Tensor]]
    every: bool = False  # every row is a single token, in order (a pure decoding step)

    @classmethod
    def of(cls, spans: Sequence[_Span], device: Any) -> _Plan:
        singles = [span for span in spans if span.end - span.start == 1]
        long = [
            (span, torch.tensor(span.row.cache.slots, device=device))
            for span in spans
            if span.end - span.start > 1
        ]
        if not singles:
            return cls(None, None, None, long)
        lengths = [span.row.cache.length for span in singles]
        longest, rows = max(lengths), len(singles)
        flat: list[int] = [span.start for span in singles] + lengths
        for span, length in zip(singles, lengths, strict=True):
            flat += span.row.cache.slots
            flat += [0] * (longest - length)
        packed = torch.tensor(flat, device=device)  # one copy in
        single, counts = packed[:rows], packed[rows : 2 * rows]
        gather = packed[2 * rows :].view(rows, longest)
        mask = None
        if min(lengths) < longest:
            mask = (torch.arange(longest, device=device)[None, :] < counts[:, None])[
                :, None, None, :
            ]
        return cls(single, gather, mask, long, every=not long)


def _rms_norm(x: torch.Tensor, norm: Any) -> torch.Tensor:
    """Llama's RMSNorm as one fused op (the same numbers as the module's own forward)."""
    return torch.rms_norm(x, (x.shape[-1],), norm.weight, norm.variance_epsilon)
