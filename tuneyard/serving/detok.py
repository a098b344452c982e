"""Turning generated tokens into text as they come, and holding back stop strings.

`Detokenizer` decodes a sliding window of the ids (the way text-generation-inference does):
the text a new token adds is the decoded window minus the decoded window without it, and
nothing is released while the window ends in an incomplete UTF-8 sequence (decoded as
U+FFFD) — with a byte-level tokenizer one Chinese character is three tokens, and the first
two produce no text. Bytes that never complete a character (a model can emit any byte)
are released as U+FFFD once a few more tokens have come. A few prompt tokens seed the
window, so tokenizers that drop a leading space at the start of a decode (SentencePiece)
still render the first word right.

`StopMatcher` sits after it: it releases text only once no stop string can still start in
it, and stops at the first complete stop string (which is never released).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Detokenizer", "StopMatcher"]

_SEED_TOKENS = 5
_REPLACEMENT = "\ufffd"
_MAX_PENDING = 8  # tokens held for one character at most; invalid bytes are then released


class Detokenizer:
    """Incremental decoding of one sequence's generated tokens."""

    def __init__(self, tokenizer: Any, prompt: Sequence[int] = ()) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._fast = backend is not None
        self._decoder = backend if backend is not None else tokenizer
        self._ids = list(prompt[-_SEED_TOKENS:])
        self._prefix = 0
        self._read = len(self._ids)
        self._before: str | None = None  # the decoded window up to `_read`, once known

    def add(self, token: int) -> str:
        """The text `token` completes ("" while a character is still incomplete)."""
        self._ids.append(token)
        if self._before is None:
            self._before = self._decode(self._ids[self._prefix : self._read])
        before = self._before
        after = self._decode(self._ids[self._prefix :])
        pending = len(self._ids) - self._read
        if len(after) <= len(before) or (after.endswith(_REPLACEMENT) and pending < _MAX_PENDING):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        self._before = None
        return after[len(before) :]

    def _decode(self, ids: Sequence[int]) -> str:
        if not ids:
            return ""
        if self._fast:  # the `tokenizers` backend, without the wrapper's per-call overhead
            return str(self._decoder.decode(list(ids), skip_special_tokens=True))
        return str(
            self._decoder.decode(
                list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
        )


class StopMatcher:
    """Releases text that cannot be part of a stop string; reports the first stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Add `text`; return what can be released now and whether a stop string ended it
        (the text before the stop string is released, the rest is dropped)."""
        if not self._stops:
            return text, False
        buffer = self._held + text
        hits = [at for stop in self._stops if (at := buffer.find(stop)) >= 0]
        if hits:
            self._held = ""
            return buffer[: min(hits)], True
        keep = self._open_tail(buffer)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        """The text held back (the sequence ended without a stop string)."""
        held, self._held = self._held, ""
        return held

    def _open_tail(self, buffer: str) -> int:
        """Length of the longest tail of `buffer` that begins some stop string."""
        longest = min(len(buffer), max(len(s) for s in self._stops) - 1)
        for size in range(longest, 0, -1):
            tail = buffer[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
