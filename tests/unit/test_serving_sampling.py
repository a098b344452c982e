"""The inference worker's token choice, stop strings and incremental detokenisation, on
plain tensors and the tiny-chat tokenizer (no model, no process)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import transformers

from tuneyard.basemodels import tinychat
from tuneyard.serving import detok, sampling
from tuneyard.serving.protocol import Sampling

VOCAB = 50


def logits_rows(rows: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, VOCAB, generator=torch.Generator().manual_seed(seed)) * 3


def sampler(prompt: tuple[int, ...] = (), index: int = 0, **values: Any) -> sampling.RowSampler:
    return sampling.RowSampler(Sampling(**values), prompt, VOCAB, index=index)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return tinychat.make_tokenizer()


# -- choosing the token ------------------------------------------------------------------


def test_temperature_zero_takes_the_argmax() -> None:
    logits = logits_rows()
    rows = [sampler(temperature=0), sampler(temperature=0, logprobs=True)] * 2
    picks = sampling.sample(rows, logits)
    assert [p.token for p in picks] == logits.argmax(dim=-1).tolist()
    assert picks[0].logprob is None
    assert picks[1].logprob == pytest.approx(torch.log_softmax(logits[1], -1).max().item())


def test_the_repetition_penalty_is_transformers_one() -> None:
    logits = logits_rows(1)
    prompt, output = (1, 2, 3, 7), (7, 9)
    row = sampler(prompt, temperature=0, repetition_penalty=1.7)
    for token in output:
        row.observe(token)
    expected = transformers.RepetitionPenaltyLogitsProcessor(1.7)(
        torch.tensor([prompt + output]), logits.clone()
    )
    torch.testing.assert_close(row.process(logits[0]), expected[0])


def test_frequency_and_presence_penalties_count_only_the_output() -> None:
    logits = logits_rows(1)[0]
    row = sampler((5, 5, 5), temperature=0, frequency_penalty=0.5, presence_penalty=0.25)
    for token in (3, 3, 4):
        row.observe(token)
    expected = logits.clone()
    expected[3] -= 2 * 0.5 + 0.25
    expected[4] -= 0.5 + 0.25
    torch.testing.assert_close(row.process(logits), expected)  # token 5 (prompt) untouched


def test_a_penalty_can_change_the_greedy_choice() -> None:
    logits = torch.zeros(1, VOCAB)
    logits[0, 3], logits[0, 4] = 2.0, 1.5
    row = sampler(temperature=0, frequency_penalty=1.0)
    row.observe(3)
    assert sampling.sample([row], logits)[0].token == 4


def test_top_p_keeps_the_nucleus_as_transformers_does() -> None:
    for seed in range(5):
        scores = logits_rows(1, seed)
        for top_p in (0.1, 0.5, 0.9):
            ours = sampling.cut(scores[0], 0, top_p)
            theirs = transformers.TopPLogitsWarper(top_p)(torch.zeros(1, 1), scores.clone())[0]
            assert torch.equal(torch.isinf(ours), torch.isinf(theirs))


def test_top_k_draws_only_the_k_best() -> None:
    logits = logits_rows(1)
    best = set(torch.topk(logits[0], 3).indices.tolist())
    row = sampler(temperature=5.0, top_k=3, seed=1)
    drawn = {sampling.sample([row], logits)[0].token for _ in range(200)}
    assert drawn <= best and len(drawn) > 1


def test_a_seeded_row_draws_the_same_tokens_whatever_shares_its_batch() -> None:
    logits = logits_rows(3)

    def draws(rows: list[sampling.RowSampler], batch: torch.Tensor, at: int) -> list[int]:
        return [sampling.sample(rows, batch)[at].token for _ in range(30)]

    alone = draws([sampler(seed=42)], logits[:1], 0)
    assert draws([sampler(seed=42)], logits[:1], 0) == alone
    shared = torch.stack([logits[2], logits[0], logits[1]])
    assert draws([sampler(seed=7), sampler(seed=42), sampler()], shared, 1) == alone
    assert draws([sampler(seed=43)], logits[:1], 0) != alone


def test_the_choices_of_one_seeded_request_differ() -> None:
    logits = logits_rows(1).repeat(2, 1)
    rows = [sampler(seed=3, index=0), sampler(seed=3, index=1)]
    draws = [tuple(p.token for p in sampling.sample(rows, logits)) for _ in range(30)]
    assert any(a != b for a, b in draws)


def test_logprobs_are_of_the_processed_logits() -> None:
    logits = logits_rows(1)
    row = sampler(temperature=0.5, seed=0, logprobs=True, top_logprobs=5)
    pick = sampling.sample([row], logits)[0]
    expected = torch.log_softmax(logits[0] / 0.5, -1)
    assert pick.logprob == pytest.approx(expected[pick.token].item(), abs=1e-5)
    assert pick.top is not None and len(pick.top) == 5
    assert [t for t, _ in pick.top] == torch.topk(expected, 5).indices.tolist()
    assert all(a[1] >= b[1] for a, b in zip(pick.top, pick.top[1:], strict=False))


@pytest.mark.parametrize(
    ("values", "n", "word"),
    [
        ({"temperature": -1.0}, 1, "temperature"),
        ({"temperature": math.nan}, 1, "temperature"),
        ({"top_p": 0.0}, 1, "top_p"),
        ({"top_k": -1}, 1, "top_k"),
        ({"max_tokens": 0}, 1, "max_tokens"),
        ({"top_logprobs": 21}, 1, "top_logprobs"),
        ({"repetition_penalty": 0.0}, 1, "repetition_penalty"),
        ({"frequency_penalty": math.inf}, 1, "frequency_penalty"),
        ({}, 0, "n"),
        ({}, 1000, "n"),
    ],
)
def test_values_the_worker_cannot_honour_are_named(
    values: dict[str, Any], n: int, word: str
) -> None:
    message = sampling.problem(Sampling(**values), n)
    assert message is not None and message.startswith(word)


def test_ordinary_values_pass() -> None:
    assert sampling.problem(Sampling(temperature=0.7, top_p=0.9, top_k=40, seed=1), 4) is None


# -- stop strings ----------------------------------------------------------------------


def test_text_that_may_start_a_stop_string_is_held_back() -> None:
    stops = detok.StopMatcher(["###", "END"])
    assert stops.feed("ab#") == ("ab", False)
    assert stops.feed("#") == ("", False)
    assert stops.feed("x E") == ("##x ", False)
    assert stops.feed("N") == ("", False)
    assert stops.feed("D and more") == ("", True)


def test_the_first_stop_string_wins_and_is_not_released() -> None:
    stops = detok.StopMatcher(["cd", "b"])
    assert stops.feed("abcd") == ("a", True)


def test_held_text_is_released_when_the_sequence_ends() -> None:
    stops = detok.StopMatcher(["STOP"])
    assert stops.feed("well ST") == ("well ", False)
    assert stops.flush() == "ST"
    assert detok.StopMatcher([]).feed("STOP") == ("STOP", False)


# -- incremental detokenisation ----------------------------------------------------------


def test_a_multi_byte_character_is_released_whole(tokenizer: Any) -> None:
    text = "你好, world! ü"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text.encode("utf-8"))  # byte-level: 3 tokens per Chinese character
    prompt = tokenizer("<|user|>hi<|end|><|assistant|>", add_special_tokens=False)["input_ids"]
    decoder = detok.Detokenizer(tokenizer, prompt)
    pieces = [decoder.add(token) for token in ids]
    assert pieces[:3] == ["", "", "你"]
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) == text


def test_special_tokens_produce_no_text(tokenizer: Any) -> None:
    decoder = detok.Detokenizer(tokenizer)
    user = tokenizer.convert_tokens_to_ids("<|user|>")
    pieces = [decoder.add(t) for t in [ord("a"), user, ord("b")]]
    assert pieces == ["a", "", "b"]


def test_bytes_that_never_make_a_character_are_released_as_replacements(tokenizer: Any) -> None:
    decoder = detok.Detokenizer(tokenizer)
    pieces = [decoder.add(0xFF) for _ in range(12)] + [decoder.add(ord("a"))]
    text = "".join(pieces)
    assert text.endswith("a") and set(text[:-1]) == {"\ufffd"}
    assert pieces[0] == ""  # held while it might still start a character
