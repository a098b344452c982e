"""Padding-free batches for causal LMs: examples packed end to end in one row, kept apart.

A micro-batch of examples becomes one row of `sum(lengths)` tokens: no padding at all.
Position ids restart at 0 for each example, and attention stays inside each example: the
`tuneyard-packed` attention function (registered with transformers' AttentionInterface)
splits queries, keys and values at the example boundaries and runs causal SDPA per example,
so no example ever sees another and no (T × T) mask is built. Next-token targets are
shifted within each example, never across a boundary, and only the positions that have a
target are projected to the vocabulary (`logits_to_keep`), so the output head and the loss
cost nothing for prompt tokens.

Models whose attention does not go through AttentionInterface, or that use sliding-window
attention, are trained on right-padded batches instead (`supports_packing`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import transformers

from tuneyard.trainer.data import IGNORE_INDEX, shape_multiple

__all__ = ["ATTENTION", "PackedBatch", "enable", "pack", "supports_packing"]

ATTENTION = "tuneyard-packed"
"""Name of the packed attention function in transformers' AttentionInterface."""


@dataclasses.dataclass(frozen=True, slots=True)
class PackedBatch:
    """One padding-free micro-batch.

    `input_ids` and `position_ids` are (1, T); `lengths` are the examples' token counts
    (summing to T); `keep` are the positions whose next token is learnt, `targets` those
    next tokens and `owners` the index of the example each belongs to, in the same order.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    lengths: list[int]
    keep: torch.Tensor
    targets: torch.Tensor
    owners: torch.Tensor
    padding: int = 0
    """Tokens of padding at the end of the row (their own block: nothing attends to them,
    nothing is learnt from them), only under CPU bf16 (`data.shape_multiple`)."""

    @property
    def tokens(self) -> int:
        """Real tokens in the batch (the padding left out)."""
        return int(self.input_ids.shape[1]) - self.padding

    @property
    def n_targets(self) -> int:
        """Positions that contribute to the loss."""
        return int(self.targets.shape[0])

    def to(self, device: torch.device) -> PackedBatch:
        """The same batch on `device`."""
        return dataclasses.replace(
            self,
            input_ids=self.input_ids.to(device, non_blocking=True),
            position_ids=self.position_ids.to(device, non_blocking=True),
            keep=self.keep.to(device, non_blocking=True),
            targets=self.targets.to(device, non_blocking=True),
            owners=self.owners.to(device, non_blocking=True),
        )

    def model_inputs(self) -> dict[str, Any]:
        """Keyword arguments for the model's forward (the lengths reach the attention)."""
        return {
            "input_ids": self.input_ids,
            "position_ids": self.position_ids,
            "packed_lengths": self.lengths,
            "logits_to_keep": self.keep,
            "use_cache": False,
        }


def pack(examples: Sequence[tuple[Sequence[int], Sequence[int]]]) -> PackedBatch:
    """Pack (input_ids, labels) pairs; labels are per token, IGNORE_INDEX where not learnt.
    The row's length is rounded up to `data.shape_multiple()` by a block of padding."""
    if not examples:
        raise ValueError("cannot pack an empty batch")
    ids: list[int] = []
    positions: list[int] = []
    keep: list[int] = []
    targets: list[int] = []
    owners: list[int] = []
    lengths = []
    for index, (input_ids, labels) in enumerate(examples):
        start = len(ids)
        ids.extend(input_ids)
        positions.extend(range(len(input_ids)))
        lengths.append(len(input_ids))
        # position t predicts the label of t + 1, inside this example only
        for offset, label in enumerate(labels[1:]):
            if label != IGNORE_INDEX:
                keep.append(start + offset)
                targets.append(label)
                owners.append(index)
    padding = -len(ids) % shape_multiple()
    if padding:
        ids.extend([0] * padding)
        positions.extend(range(padding))
        lengths.append(padding)
    return PackedBatch(
        input_ids=torch.tensor([ids]),
        position_ids=torch.tensor([positions]),
        lengths=lengths,
        keep=torch.tensor(keep, dtype=torch.long),
        targets=torch.tensor(targets, dtype=torch.long),
        owners=torch.tensor(owners, dtype=torch.long),
        padding=padding,
    )


def supports_packing(model: Any) -> bool:
    """Whether `model` (a transformers PreTrainedModel) can run the packed attention."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "sliding_window", None):
        return False
    return bool(getattr(model, "_supports_attention_backend", False))


def enable(model: Any) -> None:
    """Switch `model` to the packed attention (registering it on first use)."""
    if ATTENTION not in transformers.AttentionInterface._global_mapping:
        transformers.AttentionInterface.register(ATTENTION, _packed_attention)
    model.set_attn_implementation(ATTENTION)


def _packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    packed_lengths: Sequence[int] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal SDPA per packed example; (1, H, T, D) in, (1, T, H, D) out.

    `split` (not slicing) keeps the backward linear in T: slicing would allocate a
    zero-filled (T)-sized gradient per example.

    Under CPU bf16 autocast it runs in fp32: torch's bf16 SDPA backward on a CPU keeps ~2 MB
    per distinct sequence length it has seen (a training run's memory grew by ~1 GB over
    tiny-chat's varied lengths), and is no faster than fp32 below a few hundred tokens per
    example (0.29 against 0.09 ms at 40 tokens, 7.7 against 9.9 ms at 800, 4 heads of 64,
    forward and backward, AMD EPYC with AVX512-BF16). The weight GEMMs around it keep bf16.
    """
    if query.shape[0] != 1 or packed_lengths is None:
        raise ValueError("the packed attention needs one packed row and its example lengths")
    if query.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return _packed_attention(
                module,
                query.float(),
                key.float(),
                value.float(),
                attention_mask,
                dropout,
                scaling,
                packed_lengths,
                **kwargs,
            )
    gqa = query.shape[1] != key.shape[1]
    lengths = list(packed_lengths)
    outputs = [
        F.scaled_dot_product_attention(
            q,
            k,
            v,
            is_causal=True,
            scale=scaling,
            dropout_p=dropout if module.training else 0.0,
            enable_gqa=gqa,
        )
        for q, k, v in zip(
            torch.split(query, lengths, dim=2),
            torch.split(key, lengths, dim=2),
            torch.split(value, lengths, dim=2),
            strict=True,
        )
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2), None
