"""The neutral training example every dataset format is read into (spec §5.6)."""

from __future__ import annotations

import dataclasses

__all__ = ["Example", "Message"]


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: role is "system", "user" or "assistant"."""

    role: str
    content: str


@dataclasses.dataclass(frozen=True, slots=True)
class Example:
    """One training example: a conversation, plus its class label for classification."""

    messages: tuple[Message, ...]
    label: str | None = None
