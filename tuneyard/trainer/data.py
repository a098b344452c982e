"""Training data for the worker: load the examples, tokenise them per task, batch them.

GENERATION renders each conversation with the tokenizer's chat template and learns only
the assistant turns: labels are -100 everywhere except the tokens of each assistant turn's
content and its end marker. CLASSIFICATION encodes the system prompt (if any) and the user
text as one input and predicts the label's index among the sorted label names.

An epoch's order depends only on (seed, epoch), so a resumed run replays the same batches.
Padded batches (classification, and models that cannot pack) are grouped by length, so
each batch pads little; packed batches need no grouping (they have no padding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from tuneyard import kinds
from tuneyard.core import jobs
from tuneyard.core.estimate import BF16_ROW_MULTIPLE
from tuneyard.datasets import examples as ex
from tuneyard.trainer import report

__all__ = [
    "IGNORE_INDEX",
    "Feature",
    "collate",
    "count_exchanges",
    "epoch_batches",
    "label_names",
    "load_examples",
    "split_validation",
    "tokenise_classification",
    "tokenise_conversation",
    "tokenise_generation",
    "tokenise_text",
]

IGNORE_INDEX = -100
"""Label value the loss ignores (prompt tokens and padding)."""

_MIN_EXAMPLES_TO_SPLIT = 10
_MAX_HELD_OUT = 1000
_LENGTH_GROUP_WINDOW = 50


@dataclasses.dataclass(frozen=True, slots=True)
class Feature:
    """One tokenised example: token ids, and per-token labels or one class index."""

    input_ids: list[int]
    labels: list[int] | int
    token_type_ids: list[int] | None = None

    @property
    def length(self) -> int:
        """Tokens of the example."""
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        """What the loss sums over: the learnt next tokens (a label at t + 1 predicted from
        t), or the one class of a classification example."""
        if isinstance(self.labels, int):
            return 1
        return sum(label != IGNORE_INDEX for label in self.labels[1:])


def load_examples(spec: jobs.TrainingSpec) -> list[ex.Example]:
    """The examples of the job's training file, read in its format; a file that fails
    validation raises Failed. The service checked the file against its size and row limits
    before queueing the job, so those are not applied again here."""
    return _read(spec.dataset_path, spec.dataset_filename, spec.dataset_format, spec.task_type)


def load_validation(spec: jobs.TrainingSpec) -> list[ex.Example] | None:
    """The examples of the job's validation file, or None when it has none."""
    if spec.validation_path is None:
        return None
    name = spec.validation_filename or Path(spec.validation_path).name
    return _read(spec.validation_path, name, spec.validation_format, spec.task_type)


def _read(path: str, filename: str, fmt: str | None, task_type: kinds.TaskType) -> list[ex.Example]:
    from tuneyard.datasets import report as dataset_report
    from tuneyard.datasets import validator

    try:
        return validator.load_examples(
            Path(path),
            filename=filename,
            fmt=fmt,
            task_type=task_type,
            limits=dataset_report.Limits(max_bytes=1 << 62, min_rows=1, min_rows_per_label=1),
        )
    except dataset_report.DatasetInvalid as exc:
        issue = exc.report.first
        if issue is None:
            raise report.Failed("file.format", str(exc)) from exc
        raise report.Failed(issue.reason, issue.message) from exc


def count_exchanges(examples: Sequence[ex.Example]) -> int:
    """Rows of a chat file: one per user/assistant exchange (at least one per example)."""
    return sum(max(1, sum(m.role == "assistant" for m in e.messages)) for e in examples)


def label_names(examples: Sequence[ex.Example]) -> list[str]:
    """The distinct class labels in sorted order; a label's index is its class id."""
    missing = sum(e.label is None for e in examples)
    if missing:
        raise ValueError(f"{missing} classification examples have no label")
    return sorted({e.label for e in examples if e.label is not None})


def tokenise_generation(
    examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int
) -> list[Feature]:
    """Chat-template each conversation; labels only on assistant turns (content + end token)."""
    features = []
    for index, example in enumerate(examples):
        feature = tokenise_conversation(example.messages, tokenizer, max_seq_len)
        if feature is None:
            raise ValueError(f"example {index} has no assistant turn to learn from")
        features.append(feature)
    return features


def tokenise_text(
    examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int
) -> list[Feature]:
    """Plain documents (CPT): every token is learnt. A document ends with the end token and
    one longer than `max_seq_len` is cut into consecutive windows of that length."""
    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    features = []
    for index, example in enumerate(examples):
        if not example.text:
            raise ValueError(f"example {index} has no text to learn from")
        ids = list(tokenizer(example.text, add_special_tokens=False)["input_ids"]) + end
        for start in range(0, len(ids), max_seq_len):
            window = ids[start : start + max_seq_len]
            if len(window) > 1:  # one token alone predicts nothing
                features.append(Feature(input_ids=window, labels=list(window)))
    return features


def tokenise_conversation(
    messages: Sequence[ex.Message], tokenizer: Any, max_seq_len: int, *, learn_from: int = 0
) -> Feature | None:
    """One chat-templated conversation, labels on the assistant turns from message index
    `learn_from` on; None when there is no such turn."""
    turns = [{"role": m.role, "content": m.content} for m in messages]
    text, spans = _render_with_assistant_spans(tokenizer, turns, learn_from)
    if not spans:
        return None
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids: list[int] = list(encoded["input_ids"])
    offsets: list[tuple[int, int]] = list(encoded["offset_mapping"])
    labels = [
        token if any(start <= begin < end for start, end in spans) else IGNORE_INDEX
        for token, (begin, _) in zip(input_ids, offsets, strict=True)
    ]
    last_turn = next(
        (i for i, (begin, _) in enumerate(offsets) if begin >= spans[-1][0]), len(input_ids)
    )
    return _truncate(input_ids, labels, max_seq_len, keep_from_at_most=last_turn)


def tokenise_classification(
    examples: Sequence[ex.Example], tokenizer: Any, max_seq_len: int, labels: Sequence[str]
) -> list[Feature]:
    """Encode system prompt (if any) + user text; the label becomes its index in `labels`."""
    class_id = {name: i for i, name in enumerate(labels)}
    features = []
    for example in examples:
        system = "\n".join(m.content for m in example.messages if m.role == "system")
        user = "\n".join(m.content for m in example.messages if m.role == "user")
        texts = (system, user) if system else (user,)
        encoded = tokenizer(*texts, truncation=True, max_length=max_seq_len)
        type_ids = encoded.get("token_type_ids")
        features.append(
            Feature(
                input_ids=list(encoded["input_ids"]),
                labels=class_id[str(example.label)],
                token_type_ids=list(type_ids) if type_ids is not None else None,
            )
        )
    return features


def split_validation(
    examples: Sequence[ex.Example], share: float, seed: int
) -> tuple[list[ex.Example], list[ex.Example]]:
    """(train, validation): a seeded random `share` held out, at least 1 and at most 1,000;
    nothing is held out from fewer than 10 examples or when `share` is 0."""
    if share <= 0 or len(examples) < _MIN_EXAMPLES_TO_SPLIT:
        return list(examples), []
    held = min(_MAX_HELD_OUT, max(1, round(len(examples) * share)))
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen = set(order[:held])
    train = [e for i, e in enumerate(examples) if i not in chosen]
    return train, [examples[i] for i in sorted(chosen)]


def epoch_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """One epoch's micro-batches as example indices; the order depends only on (seed, epoch).

    With `group_by_length`, the shuffled examples are cut into windows of 50 batches, each
    window sorted by length and cut into batches, and the batches shuffled again: batches of
    similar lengths, in random order.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if group_by_length:
        window = batch_size * _LENGTH_GROUP_WINDOW
        order = [
            i
            for start in range(0, len(order), window)
            for i in sorted(order[start : start + window], key=lambda i: -lengths[i])
        ]
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    if group_by_length:
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[i] for i in shuffled]
    return batches


def shape_multiple() -> int:
    """What a packed micro-batch's token count is padded up to now:
    `core.estimate.BF16_ROW_MULTIPLE` inside CPU bf16 autocast (the recipe's bf16 on a
    CPU), else 1."""
    return BF16_ROW_MULTIPLE if torch.is_autocast_enabled("cpu") else 1


def collate(batch: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch to its longest example; padded labels are IGNORE_INDEX."""
    width = max(len(f.input_ids) for f in batch)

    def padded(rows: list[list[int]], value: int) -> torch.Tensor:
        return torch.tensor([row + [value] * (width - len(row)) for row in rows])

    tensors = {
        "input_ids": padded([f.input_ids for f in batch], pad_id),
        "attention_mask": padded([[1] * len(f.input_ids) for f in batch], 0),
    }
    if all(f.token_type_ids is not None for f in batch):
        tensors["token_type_ids"] = padded([f.token_type_ids or [] for f in batch], 0)
    class_ids = [f.labels for f in batch if isinstance(f.labels, int)]
    if len(class_ids) == len(batch):
        tensors["labels"] = torch.tensor(class_ids)
    else:
        token_labels = [f.labels for f in batch if isinstance(f.labels, list)]
        tensors["labels"] = padded(token_labels, IGNORE_INDEX)
    return tensors


def _render_with_assistant_spans(
    tokenizer: Any, messages: list[dict[str, str]], learn_from: int = 0
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each assistant turn (from
    message index `learn_from` on).

    A turn's span runs from the end of the prompt that asks for it (generation prompt
    included) to the end of the turn as the template renders it (its end marker included).
    """
    text = _render(tokenizer, messages, add_generation_prompt=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant" or i < learn_from:
            continue
        before = _render(tokenizer, messages[:i], add_generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not (through.startswith(before) and text.startswith(through)):
            raise ValueError(
                "the base model's chat template does not render conversations prefix by "
                "prefix, so assistant turns cannot be located for loss masking"
            )
        spans.append((len(before), len(through)))
    return text, spans


def _render(tokenizer: Any, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    return str(rendered)


def _truncate(
    input_ids: list[int], labels: list[int], max_seq_len: int, *, keep_from_at_most: int
) -> Feature:
    """Cut to max_seq_len, dropping prompt tokens from the left first, but never past the
    start of the last assistant turn; what is still too long loses its tail."""
    if len(input_ids) <= max_seq_len:
        return Feature(input_ids=input_ids, labels=labels)
    start = min(len(input_ids) - max_seq_len, keep_from_at_most)
    end = start + max_seq_len
    return Feature(input_ids=input_ids[start:end], labels=labels[start:end])
