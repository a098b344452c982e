"""DPO (Rafailov et al., 2023): learn to prefer the chosen reply over the rejected one.

Each preference example becomes a `Pair` of two tokenised conversations, the prompt plus
the chosen reply and the prompt plus the rejected reply, with labels on the reply only.
The loss of a pair is `-log σ(β · ((c − c_ref) − (r − r_ref)))`, where c and r are the
summed log-probabilities of the chosen and rejected replies under the model being trained
and c_ref, r_ref under the reference: the model as it was when the job started (the base,
or the earlier job it continues). The reference log-probabilities are computed once,
before the first step, and kept in the job's folder, so a resumed run uses the same ones
and no second model is held in memory.

Both sequences of every pair of a micro-batch are packed into one row (when the model can
pack), so a DPO step costs one forward and one backward over the real tokens.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tuneyard.datasets import examples as ex
from tuneyard.trainer import packing, precision
from tuneyard.trainer.data import IGNORE_INDEX, Feature, collate, tokenise_conversation
from tuneyard.trainer.loss import Scored

__all__ = ["Pair", "conversations", "references", "score", "sequence_logps", "tokenise"]


@dataclasses.dataclass(frozen=True, slots=True)
class Pair:
    """A preference example: the chosen and the rejected conversation, and the reference
    model's log-probabilities of their replies (None until computed)."""

    chosen: Feature
    rejected: Feature
    reference: tuple[float, float] | None = None

    @property
    def length(self) -> int:
        """Tokens of both sequences."""
        return self.chosen.length + self.rejected.length

    @property
    def n_targets(self) -> int:
        """A pair is one target of the loss."""
        return 1


def tokenise(examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int) -> list[Pair]:
    """Both conversations of each preference example, labels on the final reply only."""
    pairs = []
    for index, example in enumerate(examples):
        if not example.chosen or not example.rejected:
            raise ValueError(f"example {index} is not a preference pair")
        start = len(example.messages)
        chosen = tokenise_conversation(
            (*example.messages, *example.chosen), tokenizer, max_seq_len, learn_from=start
        )
        rejected = tokenise_conversation(
            (*example.messages, *example.rejected), tokenizer, max_seq_len, learn_from=start
        )
        if chosen is None or rejected is None:
            raise ValueError(f"example {index} has no assistant reply to compare")
        pairs.append(Pair(chosen, rejected))
    return pairs


def conversations(examples: Sequence[ex.Example]) -> list[ex.Example]:
    """Each preference example as its chosen conversation (the reference for BLEU/ROUGE)."""
    return [dataclasses.replace(e, messages=(*e.messages, *(e.chosen or ()))) for e in examples]


def sequence_logps(
    net: Any, features: Sequence[Feature], *, packed: bool, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-probability of each feature's labelled tokens, their counts)."""
    with precision.on_cuda(device):
        if packed:
            pack = packing.pack([(f.input_ids, _labels(f)) for f in features]).to(device)
            logits = net(**pack.model_inputs()).logits.reshape(-1, net.config.vocab_size)
            token_logps = -F.cross_entropy(logits.float(), pack.targets, reduction="none")
            sums = torch.zeros(len(features), device=device).index_add(0, pack.owners, token_logps)
            counts = torch.bincount(pack.owners, minlength=len(features))
            return sums, counts
        tensors = {k: v.to(device) for k, v in collate(features, pad_id).items()}
        labels = tensors.pop("labels")
        logits = net(**tensors, use_cache=False).logits[:, :-1]
        targets = labels[:, 1:]
        mask = targets != IGNORE_INDEX
        token_logps = -F.cross_entropy(
            logits.float().transpose(1, 2), targets.clamp(min=0), reduction="none"
        )
        return (token_logps * mask).sum(-1), mask.sum(-1)


def references(
    net: Any,
    pairs: Sequence[Pair],
    *,
    batch_size: int,
    packed: bool,
    pad_id: int,
    device: torch.device,
    cache: Path,
) -> list[Pair]:
    """The pairs with the reference log-probabilities of their replies under `net` as it is
    now (eval mode, no gradients). They are saved to the file `cache` (in the job's folder)
    and read back from it by a resumed run, whose model has moved on since."""
    if cache.is_file():
        saved = torch.load(cache)
        if saved.shape == (len(pairs), 2):
            return [_with(p, row) for p, row in zip(pairs, saved.tolist(), strict=True)]
    was_training = net.training
    net.eval()
    rows: list[list[float]] = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            features = [f for p in chunk for f in (p.chosen, p.rejected)]
            sums, _ = sequence_logps(net, features, packed=packed, pad_id=pad_id, device=device)
            rows += sums.view(-1, 2).tolist()
    net.train(was_training)
    table = torch.tensor(rows, dtype=torch.float64).view(-1, 2)
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
    torch.save(table, staging)
    os.replace(staging, cache)
    return [_with(p, row) for p, row in zip(pairs, rows, strict=True)]


def score(
    net: Any,
    batch: Sequence[Pair],
    *,
    beta: float,
    packed: bool,
    pad_id: int,
    device: torch.device,
    with_accuracy: bool = False,
) -> Scored:
    """The summed DPO loss of the pairs; `correct` counts pairs whose implicit reward
    prefers the chosen reply, `reply_nll_sum` / `reply_count` are the chosen replies'
    negative log-likelihood and tokens (for a perplexity)."""
    known = [p.reference for p in batch if p.reference is not None]
    if len(known) != len(batch):
        raise ValueError("DPO pairs need their reference log-probabilities first")
    features = [f for p in batch for f in (p.chosen, p.rejected)]
    sums, counts = sequence_logps(net, features, packed=packed, pad_id=pad_id, device=device)
    policy = sums.view(-1, 2)
    reference = torch.tensor(known, dtype=policy.dtype, device=device)
    rewards = beta * (policy - reference)
    margins = rewards[:, 0] - rewards[:, 1]
    return Scored(
        loss_sum=-F.logsigmoid(margins).sum(),
        count=len(batch),
        tokens=sum(p.length for p in batch),
        correct=(margins > 0).sum() if with_accuracy else None,
        reply_nll_sum=-policy[:, 0].detach().sum(),
        reply_count=int(counts.view(-1, 2)[:, 0].sum()),
    )


def _with(pair: Pair, row: Sequence[float]) -> Pair:
    return dataclasses.replace(pair, reference=(float(row[0]), float(row[1])))


def _labels(feature: Feature) -> list[int]:
    assert isinstance(feature.labels, list)
    return feature.labels
