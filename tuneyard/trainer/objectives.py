"""What each training objective does differently, one row per objective.

The recipe's loop is the same for every objective; only these parts differ. `TABLE` maps
the neutral objective (`kinds.Objective`, or `kinds.TaskType.CLASSIFICATION` for a
classifier) to its `Objective` record, and `of(spec)` picks a job's row from its spec:

| objective | reads | tokenise | packs | score | reference | predict | generates |
|---|---|---|---|---|---|---|---|
| SFT | conversations | assistant turns learnt | yes | token loss | — | — | yes |
| DPO | preference pairs | chosen + rejected reply | yes | DPO loss (β) | yes | — | chosen replies |
| CPT | plain documents | every token learnt | yes | token loss | — | — | — |
| classification | conversations | user text → class id | no | class loss | — | accuracy, F1 | — |

`reads` is the kind of dataset format (`datasets.formats.Format.kind`) an objective trains
on. Adding an objective is one row here plus the module with its maths (see
docs/adding-an-objective.md).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

from tuneyard.core import jobs
from tuneyard.datasets import examples as ex
from tuneyard.kinds import Objective as Kind
from tuneyard.kinds import TaskType
from tuneyard.trainer import data, evaluate, loss, preference

__all__ = ["TABLE", "Objective", "Score", "of"]

Score = Callable[..., loss.Scored]
"""Scores one micro-batch: `score(net, batch, *, packed, pad_id, device, with_accuracy)`."""


@dataclasses.dataclass(frozen=True, slots=True)
class Objective:
    """One objective's parts: its data, its loss, its evaluation."""

    name: str
    """How runs and manifests name it."""
    reads: Kind
    """The kind of dataset format it trains on (`datasets.formats.Format.kind`)."""
    labels: Callable[[Sequence[ex.Example]], list[str]] | None
    """The class names of its examples, in class-id order; None when it predicts tokens."""
    tokenise: Callable[[Sequence[ex.Example], Any, int, Sequence[str] | None], list[Any]]
    """(examples, tokenizer, max_seq_len, labels) → the features it trains on, each with a
    `length` and `n_targets`."""
    rows: Callable[[Sequence[ex.Example]], int]
    """The rows of the source file its examples came from (reported with the data)."""
    packs: bool
    """Whether its micro-batches may be packed into one row (when the model can)."""
    score: Callable[[jobs.Hyperparameters], Score]
    """The micro-batch scorer for a job's hyperparameters (summed loss, targets, hits)."""
    reference: Callable[..., list[Any]] | None
    """What scoring needs from the model as the job starts, computed once before the first
    step and kept in the job's folder (`preference.references`); None when nothing."""
    predict: Callable[..., dict[str, float] | None] | None
    """Metrics of its predictions on the validation features, at the end
    (`evaluate.classification`); None when it has none."""
    conversations: Callable[[Sequence[ex.Example]], Sequence[ex.Example]] | None
    """The validation conversations whose last reply is generated and scored (BLEU-4,
    ROUGE) at the end; None when it does not generate."""


def _chats(
    examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int, labels: Sequence[str] | None
) -> list[Any]:
    return data.tokenise_generation(examples, tokenizer, max_seq_len)


def _pairs(
    examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int, labels: Sequence[str] | None
) -> list[Any]:
    return preference.tokenise(examples, tokenizer, max_seq_len)


def _documents(
    examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int, labels: Sequence[str] | None
) -> list[Any]:
    return data.tokenise_text(examples, tokenizer, max_seq_len)


def _classes(
    examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int, labels: Sequence[str] | None
) -> list[Any]:
    return data.tokenise_classification(examples, tokenizer, max_seq_len, labels or [])


def _token_loss(hp: jobs.Hyperparameters) -> Score:
    return loss.score


def _dpo_loss(hp: jobs.Hyperparameters) -> Score:
    return functools.partial(preference.score, beta=hp.dpo_beta)


def _as_they_are(examples: Sequence[ex.Example]) -> Sequence[ex.Example]:
    return examples


SFT = Objective(
    name="sft",
    reads=Kind.SFT,
    labels=None,
    tokenise=_chats,
    rows=data.count_exchanges,
    packs=True,
    score=_token_loss,
    reference=None,
    predict=None,
    conversations=_as_they_are,
)
"""Supervised fine-tuning: next-token loss on the assistant replies."""

DPO = Objective(
    name="dpo",
    reads=Kind.DPO,
    labels=None,
    tokenise=_pairs,
    rows=data.count_exchanges,
    packs=True,
    score=_dpo_loss,
    reference=preference.references,
    predict=None,
    conversations=preference.conversations,
)
"""Direct preference optimisation: the chosen reply over the rejected one (`preference`)."""

CPT = Objective(
    name="cpt",
    reads=Kind.CPT,
    labels=None,
    tokenise=_documents,
    rows=data.count_exchanges,
    packs=True,
    score=_token_loss,
    reference=None,
    predict=None,
    conversations=None,  # documents have no replies to generate
)
"""Continued pre-training: next-token loss on every token of plain documents."""

CLASSIFICATION = Objective(
    name="classification",
    reads=Kind.SFT,
    labels=data.label_names,
    tokenise=_classes,
    rows=len,
    packs=False,
    score=_token_loss,
    reference=None,
    predict=evaluate.classification,
    conversations=None,
)
"""A classifier: cross-entropy over the class of each text (the final reply is the label)."""

TABLE: dict[Kind | TaskType, Objective] = {
    Kind.SFT: SFT,
    Kind.DPO: DPO,
    Kind.CPT: CPT,
    TaskType.CLASSIFICATION: CLASSIFICATION,
}
"""Every objective the trainer runs, by its neutral name."""


def of(spec: jobs.TrainingSpec) -> Objective:
    """The objective a job trains: a classifier's, or the one its spec names."""
    if spec.task_type is TaskType.CLASSIFICATION:
        return TABLE[TaskType.CLASSIFICATION]
    return TABLE[spec.objective]
