"""Alibaba DashScope (Model Studio) datasets (spec §2.10): ChatML SFT, DPO and CPT lines.

SFT is `{"messages": […]}` with the roles system, user and assistant and no other message
key (OpenAI's `name` and `weight` are not supported); every assistant turn is trained.
DPO adds `chosen` and `rejected` assistant messages to a conversation that ends with the
user. CPT is `{"text": "…"}`. Problems use the same kinds as OpenAI's cookbook.
"""

from __future__ import annotations

from typing import Any

from tuneyard.datasets import jsonl
from tuneyard.datasets.examples import Example
from tuneyard.datasets.report import IssueLog

__all__ = ["RULES", "chat", "preference", "text"]

RULES = jsonl.ChatRules(roles={"system": "system", "user": "user", "assistant": "assistant"})
"""DashScope's message rules: role and content only."""

_DPO_KEYS = frozenset({"messages", "chosen", "rejected"})


def chat(value: Any, line: int, log: IssueLog) -> Example | None:
    """One ChatML line, `{"messages": […]}`, as an SFT example."""
    return jsonl.chat_example(value, line, log, keys=("messages",), rules=RULES)


def preference(value: Any, line: int, log: IssueLog) -> Example | None:
    """One DPO line: `messages` ending with the user, then `chosen` and `rejected` replies."""
    if not jsonl.is_object(value, line, log):
        return None
    before = log.total
    jsonl.unknown_keys(value, _DPO_KEYS, line, log)
    raw = value.get("messages")
    messages = jsonl.conversation(raw, "messages", line, log, RULES)
    jsonl.require_last_user(raw, "messages", line, log)
    chosen = jsonl.assistant_reply(value.get("chosen"), "chosen", line, log, RULES)
    rejected = jsonl.assistant_reply(value.get("rejected"), "rejected", line, log, RULES)
    if messages is None or chosen is None or rejected is None or log.total != before:
        return None
    return Example(messages, chosen=(chosen,), rejected=(rejected,))


def text(value: Any, line: int, log: IssueLog) -> Example | None:
    """One CPT line, `{"text": "…"}`, as a document with no messages."""
    if not jsonl.is_object(value, line, log):
        return None
    before = log.total
    jsonl.unknown_keys(value, ("text",), line, log)
    document = jsonl.text(value.get("text"), "text", line, log)
    if document is None or log.total != before:
        return None
    return Example((), text=document)
