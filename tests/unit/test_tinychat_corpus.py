"""tiny-chat's pretraining corpus: the same for a seed, in the chat template, and free of the
task families held out for the tuning test."""

from __future__ import annotations

import itertools
import re

from tuneyard.basemodels import tinychat, tinychat_corpus
from tuneyard.basemodels.tinychat_pretrain import encode

TURN = re.compile(r"<\|user\|>(.*?)<\|end\|><\|assistant\|>(.*?)<\|end\|>", re.S)


def _sample(seed: int, count: int = 20_000) -> list[str]:
    return list(itertools.islice(tinychat_corpus.documents(seed), count))


def test_seed_0_is_the_corpus_the_shipped_weights_were_trained_on() -> None:
    # Recorded in tiny_chat_weights/README.md; change it only together with new weights.
    assert tinychat_corpus.fingerprint(0) == (
        "ae5e83ce515a6701113c44df14bffb42d835cb9d5b48e27b0e8c157df5aac233"
    )
    assert len(tinychat_corpus.prose()) == 2463


def test_the_same_seed_gives_the_same_corpus() -> None:
    assert tinychat_corpus.fingerprint(7, 2_000) == tinychat_corpus.fingerprint(7, 2_000)
    assert tinychat_corpus.fingerprint(7, 2_000) != tinychat_corpus.fingerprint(8, 2_000)


def test_dialogues_and_prose_are_mixed_and_every_family_appears() -> None:
    docs = _sample(0, 5_000)
    dialogues = [d for d in docs if d.startswith(("<|user|>", "<|system|>"))]
    assert 0.8 < len(dialogues) / len(docs) < 0.97
    assert all(d.endswith("<|end|>") for d in docs)
    asks = " ".join(ask for d in dialogues for ask, _ in TURN.findall(d))
    for cue in ("Reverse", "Sort", "How many", "plus", "Capitalize", "What colour", "Repeat"):
        assert cue in asks, cue


def test_no_document_holds_a_held_out_family() -> None:
    for doc in _sample(0):
        for ask, reply in TURN.findall(doc):
            assert "uppercase" not in ask.lower(), doc
            payload = ask.split(": ", 1)[-1]
            words = re.findall(r"[a-z]{2,}", ask)
            assert not any(reply == w.upper() for w in words), doc
            assert reply != f"{payload} {payload}", doc


def test_encode_matches_the_tokenizer() -> None:
    tokenizer = tinychat.make_tokenizer()
    for doc in [*_sample(3, 200), "<|system|>héllo 你好<|end|>"]:
        assert encode(doc) == tokenizer.encode(doc), doc


def test_held_out_split_is_disjoint_and_deterministic() -> None:
    train, test = tinychat_corpus.split(tinychat_corpus.uppercase, seed=1, train=50, test=20)
    assert (train, test) == tinychat_corpus.split(
        tinychat_corpus.uppercase, seed=1, train=50, test=20
    )
    assert len(train) == 50 and len(test) == 20
    assert not {a for a, _ in train} & {a for a, _ in test}
    assert all(reply == ask.removeprefix("Uppercase: ").upper() for ask, reply in train + test)
