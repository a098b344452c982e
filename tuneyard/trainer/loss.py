"""The loss of one micro-batch, for every way a batch reaches the model.

Losses are returned as sums with their counts, so a step over several micro-batches (or a
validation pass) divides once by the total: every learnt token (or classified example)
weighs the same, however the batches happen to be cut.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from tuneyard.trainer import packing, precision
from tuneyard.trainer.data import IGNORE_INDEX, Feature, collate

__all__ = ["Scored", "score"]


@dataclasses.dataclass(frozen=True, slots=True)
class Scored:
    """Summed loss over `count` targets; `correct` hits when asked for (argmax hits, or DPO
    pairs ranked right). DPO also gives its chosen replies' summed negative log-likelihood
    and token count, for a perplexity."""

    loss_sum: torch.Tensor
    count: int
    tokens: int
    correct: torch.Tensor | None = None
    reply_nll_sum: torch.Tensor | None = None
    reply_count: int = 0


def score(
    net: Any,
    batch: Sequence[Feature],
    *,
    packed: bool,
    pad_id: int,
    device: torch.device,
    with_accuracy: bool = False,
) -> Scored:
    """Forward one micro-batch and sum its loss (bf16 autocast on CUDA; on a CPU, the
    recipe's choice of dtype)."""
    with precision.on_cuda(device):
        if isinstance(batch[0].labels, int):
            return _classification(net, batch, pad_id, device, with_accuracy)
        if packed:
            return _packed(net, batch, device, with_accuracy)
        return _padded(net, batch, pad_id, device, with_accuracy)


def _packed(
    net: Any, batch: Sequence[Feature], device: torch.device, with_accuracy: bool
) -> Scored:
    pack = packing.pack([(f.input_ids, _token_labels(f)) for f in batch]).to(device)
    logits = net(**pack.model_inputs()).logits.reshape(-1, net.config.vocab_size)
    return _summed(logits, pack.targets, pack.tokens, with_accuracy)


def _padded(
    net: Any, batch: Sequence[Feature], pad_id: int, device: torch.device, with_accuracy: bool
) -> Scored:
    tensors = {k: v.to(device, non_blocking=True) for k, v in collate(batch, pad_id).items()}
    labels = tensors.pop("labels")
    logits = net(**tensors, use_cache=False).logits
    targets = labels[:, 1:].reshape(-1)
    keep = targets != IGNORE_INDEX
    flat = logits[:, :-1].reshape(-1, logits.shape[-1])[keep]
    tokens = sum(len(f.input_ids) for f in batch)
    return _summed(flat, targets[keep], tokens, with_accuracy)


def _classification(
    net: Any, batch: Sequence[Feature], pad_id: int, device: torch.device, with_accuracy: bool
) -> Scored:
    tensors = {k: v.to(device, non_blocking=True) for k, v in collate(batch, pad_id).items()}
    labels = tensors.pop("labels")
    logits = net(**tensors).logits
    tokens = sum(len(f.input_ids) for f in batch)
    return _summed(logits, labels, tokens, with_accuracy)


def _summed(
    logits: torch.Tensor, targets: torch.Tensor, tokens: int, with_accuracy: bool
) -> Scored:
    loss_sum = F.cross_entropy(logits.float(), targets, reduction="sum")
    correct = (logits.argmax(-1) == targets).sum() if with_accuracy else None
    return Scored(loss_sum=loss_sum, count=int(targets.numel()), tokens=tokens, correct=correct)


def _token_labels(feature: Feature) -> list[int]:
    assert isinstance(feature.labels, list)
    return feature.labels
