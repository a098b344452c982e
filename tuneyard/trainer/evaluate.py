"""How good the tuned model is: validation loss, perplexity, accuracy, BLEU-4 and ROUGE.

`validation` runs at every checkpoint (it ranks them) and at the end; `generation` runs once
at the end: it greedily generates the last assistant reply of up to `eval_samples`
validation conversations and scores them against the references with `scores`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from tuneyard.datasets import examples as ex
from tuneyard.trainer import loss, scores
from tuneyard.trainer.data import Feature, collate

__all__ = ["classification", "generation", "replies_room", "validation"]

_MAX_NEW_TOKENS = 256
_GENERATION_BATCH = 16


def validation(
    net: Any,
    features: Sequence[Any],
    *,
    batch_size: int,
    score: Callable[..., loss.Scored],
) -> dict[str, float] | None:
    """Validation metrics, from `score(net, batch, with_accuracy=True)` over every batch.

    SFT: mean loss per learnt token, its perplexity, and the share of tokens predicted
    exactly. DPO: mean DPO loss per pair, the share of pairs ranked right
    (reward_accuracy), and the perplexity of the chosen replies.
    """
    if not features:
        return None
    batches: list[loss.Scored] = []
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            batches.append(score(net, features[start : start + batch_size], with_accuracy=True))
    net.train(was_training)
    count = sum(b.count for b in batches)
    if count == 0:
        return None
    # read back from the device once per pass, not once per batch
    loss_sum = torch.stack([b.loss_sum for b in batches]).sum().item()
    correct = int(torch.stack([b.correct for b in batches if b.correct is not None]).sum())
    nll = [b.reply_nll_sum for b in batches if b.reply_nll_sum is not None]
    reply_nll = torch.stack(nll).sum().item() if nll else 0.0
    mean = loss_sum / count
    reply_count = sum(b.reply_count for b in batches)
    if reply_count:
        return {
            "valid_loss": round(mean, 6),
            "reward_accuracy": round(correct / count, 6),
            "perplexity": round(math.exp(min(reply_nll / reply_count, 50.0)), 4),
        }
    return {
        "valid_loss": round(mean, 6),
        "perplexity": round(math.exp(min(mean, 50.0)), 4),
        "token_accuracy": round(correct / count, 6),
    }


def classification(
    net: Any, features: Sequence[Feature], *, batch_size: int, pad_id: int, device: torch.device
) -> dict[str, float] | None:
    """Accuracy and macro-F1 over the classes that occur in `features` or are predicted."""
    if not features:
        return None
    predicted: list[int] = []
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for batch in _chunks(features, batch_size):
            tensors = {k: v.to(device) for k, v in collate(batch, pad_id).items() if k != "labels"}
            predicted += net(**tensors).logits.argmax(-1).tolist()
    net.train(was_training)
    truth = [f.labels for f in features]
    assert all(isinstance(t, int) for t in truth)
    classes = sorted({*predicted, *(t for t in truth if isinstance(t, int))})
    f1s = []
    for c in classes:
        tp = sum(p == c and t == c for p, t in zip(predicted, truth, strict=True))
        fp = sum(p == c and t != c for p, t in zip(predicted, truth, strict=True))
        fn = sum(p != c and t == c for p, t in zip(predicted, truth, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
    return {"accuracy": round(accuracy, 6), "f1_macro": round(sum(f1s) / len(f1s), 6)}


def generation(
    net: Any,
    tokenizer: Any,
    conversations: Sequence[ex.Example],
    *,
    samples: int,
    max_seq_len: int,
    device: torch.device,
) -> dict[str, float] | None:
    """BLEU-4 and ROUGE-1/2/L of greedy replies to the first `samples` conversations."""
    pairs = [_prompt_and_reference(c) for c in conversations]
    usable = [p for p in pairs if p is not None][:samples]
    if not usable:
        return None
    hypotheses: list[str] = []
    was_training = net.training
    net.eval()
    sides = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side = tokenizer.truncation_side = "left"  # keep the prompt's end
    try:
        for start in range(0, len(usable), _GENERATION_BATCH):
            chunk = usable[start : start + _GENERATION_BATCH]
            hypotheses += _generate(net, tokenizer, chunk, max_seq_len, device)
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = sides
        net.train(was_training)
    references = [reference for _, reference in usable]
    return {
        "bleu4": round(scores.bleu4(hypotheses, references), 6),
        **{k: round(v, 6) for k, v in scores.rouge(hypotheses, references).items()},
        "generated": len(hypotheses),
    }


def _generate(
    net: Any,
    tokenizer: Any,
    chunk: Sequence[tuple[list[dict[str, str]], str]],
    max_seq_len: int,
    device: torch.device,
) -> list[str]:
    prompts = [
        tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        for messages, _ in chunk
    ]
    longest_reply = max(
        len(tokenizer(reference, add_special_tokens=False)["input_ids"]) for _, reference in chunk
    )
    longest_prompt = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    new_tokens = replies_room(max_seq_len, longest_prompt, longest_reply)
    encoded = tokenizer(
        prompts,
        add_special_tokens=False,
        padding=True,
        truncation=True,
        max_length=max(1, max_seq_len - new_tokens),
        return_tensors="pt",
    ).to(device)
    with torch.no_grad():
        output = net.generate(
            **encoded,
            max_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    replies = output[:, encoded["input_ids"].shape[1] :]
    return [str(text) for text in tokenizer.batch_decode(replies, skip_special_tokens=True)]


def replies_room(max_seq_len: int, longest_prompt: int, longest_reply: int) -> int:
    """Tokens generated at most for a batch: its longest reference reply and 16 more, at
    most `_MAX_NEW_TOKENS`, and never so many that the prompts lose more than half of
    `max_seq_len` to them (the prompt is cut from the left to what is left)."""
    room = max(max_seq_len - longest_prompt, max_seq_len // 2)
    return max(1, min(_MAX_NEW_TOKENS, longest_reply + 16, room))


def _prompt_and_reference(
    conversation: ex.Example,
) -> tuple[list[dict[str, str]], str] | None:
    messages = [{"role": m.role, "content": m.content} for m in conversation.messages]
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None or last == 0:
        return None
    return messages[:last], messages[last]["content"]


def _chunks(features: Sequence[Feature], size: int) -> Iterator[Sequence[Feature]]:
    for start in range(0, len(features), size):
        yield features[start : start + size]
