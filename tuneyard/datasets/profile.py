"""A dataset's shape as a validator streams its examples past: counts, tokens, percentiles."""

from __future__ import annotations

import array
import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Protocol

from tuneyard.datasets.examples import Example

__all__ = ["Counter", "Profile", "Summary"]

_BATCH = 1024


class Counter(Protocol):
    """Anything that gives the token count of each example (a model's tokenizer)."""

    def lengths(self, examples: Sequence[Example]) -> list[int]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    """What a profile found: examples, turns, tokens and token-length percentiles."""

    examples: int
    turns: int
    tokens: int | None
    tokens_p50: int | None
    tokens_p90: int | None
    tokens_p99: int | None
    tokens_max: int | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return dataclasses.asdict(self)


class Profile:
    """Feed it examples (`add`), in batches it counts their tokens; `summary()` at the end.

    Memory: 4 bytes per example for the lengths, plus one batch of examples.
    """

    def __init__(self, counter: Counter | None) -> None:
        self._counter = counter
        self._pending: list[Example] = []
        self._lengths = array.array("I")
        self._examples = 0
        self._turns = 0

    def add(self, example: Example) -> None:
        """Account for one example."""
        self._examples += 1
        self._turns += len(example.messages) + (1 if example.chosen is not None else 0)
        if self._counter is not None:
            self._pending.append(example)
            if len(self._pending) >= _BATCH:
                self._flush()

    def summary(self) -> Summary:
        """The totals so far (pending examples are counted first)."""
        self._flush()
        if self._counter is None or not self._lengths:
            tokens = 0 if self._counter is not None else None
            return Summary(self._examples, self._turns, tokens, None, None, None, None)
        ordered = sorted(self._lengths)
        return Summary(
            examples=self._examples,
            turns=self._turns,
            tokens=sum(ordered),
            tokens_p50=_rank(ordered, 0.50),
            tokens_p90=_rank(ordered, 0.90),
            tokens_p99=_rank(ordered, 0.99),
            tokens_max=ordered[-1],
        )

    def lengths(self) -> list[int]:
        """The token count of every example so far, in file order (empty without a counter)."""
        self._flush()
        return list(self._lengths)

    def _flush(self) -> None:
        if self._counter is not None and self._pending:
            self._lengths.extend(self._counter.lengths(self._pending))
            self._pending.clear()


def _rank(ordered: list[int], share: float) -> int:
    """Nearest-rank percentile of a sorted list."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
