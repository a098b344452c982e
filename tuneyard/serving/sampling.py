"""Choosing the next token of each running sequence from its logits.

Per row, in this order: transformers' repetition penalty (over the prompt and the output so
far: a seen token's logit is divided by the penalty when positive, multiplied when
negative), OpenAI's frequency and presence penalties (over the output only: minus
`frequency × count` and minus `presence` once a token appeared), then the temperature.
Temperature 0 is greedy: the argmax, exactly as `generate(do_sample=False)`. Otherwise the
top-k and top-p cuts (transformers' semantics: top-p keeps the smallest set of tokens whose
probability reaches p, always at least one) and a draw from the rest with the row's own
`torch.Generator` — seeded from the request's seed, so a seeded request draws the same
tokens whatever else is in the batch. Log-probabilities, when asked, are the log-softmax of
the penalised, temperature-scaled logits (before the top-k/top-p cuts).

Sampling runs on the CPU in float32 whatever device the model runs on, so a seeded request
also draws the same tokens on every device that computes the same logits.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from tuneyard.serving import protocol

__all__ = ["MAX_N", "MAX_TOP_LOGPROBS", "Pick", "RowSampler", "problem", "sample"]

MAX_TOP_LOGPROBS = 20
"""The most alternatives a request may ask for per token (OpenAI's limit)."""

MAX_N = 128
"""The most choices one request may ask for."""


def problem(sampling: protocol.Sampling, n: int) -> str | None:
    """Why these settings cannot be honoured, or None when they can."""
    checks: list[tuple[bool, str]] = [
        (n >= 1 and n <= MAX_N, f"n must be between 1 and {MAX_N}, not {n}"),
        (sampling.max_tokens >= 1, f"max_tokens must be at least 1, not {sampling.max_tokens}"),
        (
            _finite(sampling.temperature) and sampling.temperature >= 0,
            f"temperature must be a number ≥ 0, not {sampling.temperature}",
        ),
        (
            _finite(sampling.top_p) and 0 < sampling.top_p <= 1,
            f"top_p must be in (0, 1], not {sampling.top_p}",
        ),
        (sampling.top_k >= 0, f"top_k must be ≥ 0, not {sampling.top_k}"),
        (
            _finite(sampling.frequency_penalty),
            f"frequency_penalty must be a number, not {sampling.frequency_penalty}",
        ),
        (
            _finite(sampling.presence_penalty),
            f"presence_penalty must be a number, not {sampling.presence_penalty}",
        ),
        (
            _finite(sampling.repetition_penalty) and sampling.repetition_penalty > 0,
            f"repetition_penalty must be > 0, not {sampling.repetition_penalty}",
        ),
        (
            0 <= sampling.top_logprobs <= MAX_TOP_LOGPROBS,
            f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}, not {sampling.top_logprobs}",
        ),
        (all(isinstance(s, str) for s in sampling.stop), "stop must be strings"),
    ]
    return next((message for ok, message in checks if not ok), None)


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Pick:
    """The token chosen for one row, with its log-probability and the top alternatives
    (token id, log-probability) when the request asked for them."""

    token: int
    logprob: float | None = None
    top: tuple[tuple[int, float], ...] | None = None


class RowSampler:
    """The sampling state of one sequence: its settings, generator and penalty counts."""

    def __init__(
        self,
        sampling: protocol.Sampling,
        prompt: Sequence[int],
        vocab_size: int,
        *,
        index: int = 0,
    ) -> None:
        self.sampling = sampling
        self.generator: torch.Generator | None = None
        if sampling.seed is not None and sampling.temperature > 0:
            self.generator = torch.Generator().manual_seed((sampling.seed + index) % 2**63)
        self.counts: torch.Tensor | None = None
        if sampling.frequency_penalty or sampling.presence_penalty:
            self.counts = torch.zeros(vocab_size)
        self.seen: torch.Tensor | None = None
        if sampling.repetition_penalty != 1.0:
            self.seen = torch.zeros(vocab_size, dtype=torch.bool)
            ids = torch.tensor([t for t in prompt if 0 <= t < vocab_size], dtype=torch.long)
            self.seen[ids] = True

    @property
    def greedy(self) -> bool:
        """Whether this row takes the argmax."""
        return self.sampling.temperature == 0

    @property
    def plain(self) -> bool:
        """Whether the raw logits pick the token (greedy, no penalty, no logprobs)."""
        return self.greedy and self.counts is None and self.seen is None and not self.wants

    @property
    def wants(self) -> bool:
        """Whether the request asked for log-probabilities."""
        return self.sampling.logprobs

    def observe(self, token: int) -> None:
        """Count `token` as produced (for the penalties)."""
        if self.counts is not None and 0 <= token < self.counts.numel():
            self.counts[token] += 1
        if self.seen is not None and 0 <= token < self.seen.numel():
            self.seen[token] = True

    def process(self, logits: torch.Tensor) -> torch.Tensor:
        """The row's logits after its penalties and temperature (a new float32 tensor)."""
        out = logits.to(torch.float32, copy=True)
        width = out.numel()
        if self.seen is not None:
            seen = self.seen[:width]
            scores = out[seen]
            penalty = self.sampling.repetition_penalty
            out[seen] = torch.where(scores < 0, scores * penalty, scores / penalty)
        if self.counts is not None:
            counts = self.counts[:width]
            out -= counts * self.sampling.frequency_penalty
            out -= (counts > 0).to(out.dtype) * self.sampling.presence_penalty
        if not self.greedy:
            out /= self.sampling.temperature
        return out

    def draw(self, processed: torch.Tensor) -> int:
        """A token drawn from the processed logits after the top-k and top-p cuts."""
        scores = cut(processed, self.sampling.top_k, self.sampling.top_p)
        probs = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probs, 1, generator=self.generator).item())


def cut(scores: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """`scores` with every token outside the top-k and the top-p nucleus set to -inf."""
    if 0 < top_k < scores.numel():
        threshold = torch.topk(scores, top_k).values[-1]
        scores = scores.masked_fill(scores < threshold, -math.inf)
    if top_p < 1.0:
        ordered, order = torch.sort(scores, descending=True)
        probs = torch.softmax(ordered, dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p  # the mass before it already reached p
        drop[0] = False
        scores = scores.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), -math.inf)
    return scores


def sample(rows: Sequence[RowSampler], logits: torch.Tensor) -> list[Pick]:
    """One pick per row of `logits` ([rows, vocab]) with that row's sampler."""
    logits = logits.detach().to("cpu", torch.float32)
    picks: list[Pick | None] = [None] * len(rows)
    plain = [i for i, row in enumerate(rows) if row.plain]
    if plain:
        chosen = torch.argmax(logits[plain], dim=-1).tolist()
        for i, token in zip(plain, chosen, strict=True):
            picks[i] = Pick(int(token))
    for i, row in enumerate(rows):
        if picks[i] is not None:
            continue
        processed = row.process(logits[i])
        token = int(torch.argmax(processed).item()) if row.greedy else row.draw(processed)
        picks[i] = _with_logprobs(row, processed, token) if row.wants else Pick(token)
    return [pick for pick in picks if pick is not None]


def _with_logprobs(row: RowSampler, processed: torch.Tensor, token: int) -> Pick:
    logprobs = torch.log_softmax(processed, dim=-1)
    top: tuple[tuple[int, float], ...] = ()
    if row.sampling.top_logprobs:
        values, ids = torch.topk(logprobs, min(row.sampling.top_logprobs, logprobs.numel()))
        top = tuple((int(i), float(v)) for i, v in zip(ids.tolist(), values.tolist(), strict=True))
    return Pick(token, float(logprobs[token].item()), top)
