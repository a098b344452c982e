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
    """One training example.

    SFT: `messages` is the conversation (assistant turns are trained). Classification:
    `messages` holds the input and `label` its class. Preference (DPO): `messages` is the
    prompt conversation and `chosen`/`rejected` the preferred and dispreferred assistant
    replies. Continued pre-training (CPT): `text` is the document and `messages` is empty.
    """

    messages: tuple[Message, ...]
    label: str | None = None
    chosen: tuple[Message, ...] | None = None
    rejected: tuple[Message, ...] | None = None
    text: str | None = None
