"""OpenAI fine-tuning datasets (spec §4.6): chat JSONL and its DPO form, read into examples.

Each line is checked with the rules of OpenAI's cookbook; a problem's `kind` is the
cookbook's key where it has one (`unrecognized_role`, `missing_content`, …). A
`developer` message becomes a system message; `name` is accepted and dropped. Tool calls
and tool results (`tool_calls`, `function_call`, roles `tool` and `function`) and `weight`
0 are valid for OpenAI but cannot be held by an Example, so they are reported as
`unsupported_tool_calls` and `unsupported_weight`. Top-level `tools` and
`parallel_tool_calls` are accepted and dropped.
"""

from __future__ import annotations

from typing import Any

from tuneyard.datasets import jsonl
from tuneyard.datasets.examples import Example
from tuneyard.datasets.report import IssueLog

__all__ = ["RULES", "chat", "preference"]

RULES = jsonl.ChatRules(
    roles={"system": "system", "developer": "system", "user": "user", "assistant": "assistant"},
    keys=frozenset(
        {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
    ),
    tool_roles=frozenset({"tool", "function"}),
    tool_keys=frozenset({"tool_calls", "tool_call_id", "function_call"}),
    weight=True,
)
"""OpenAI's message rules: its roles, keys, tool fields and assistant `weight`."""

_CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
_DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})


def chat(value: Any, line: int, log: IssueLog) -> Example | None:
    """One chat line, `{"messages": […]}`, as an SFT example."""
    return jsonl.chat_example(value, line, log, keys=_CHAT_KEYS, rules=RULES)


def preference(value: Any, line: int, log: IssueLog) -> Example | None:
    """One DPO line, `{"input": {"messages"}, "preferred_output", "non_preferred_output"}`."""
    if not jsonl.is_object(value, line, log):
        return None
    before = log.total
    jsonl.unknown_keys(value, _DPO_KEYS, line, log)
    prompt = value.get("input")
    if isinstance(prompt, dict):
        jsonl.unknown_keys(prompt, _CHAT_KEYS, line, log, prefix="input.")
        raw = prompt.get("messages")
        messages = jsonl.conversation(raw, "input.messages", line, log, RULES)
        jsonl.require_last_user(raw, "input.messages", line, log)
    else:
        kind = "missing_messages_list" if prompt is None else "data_type"
        jsonl.problem(log, kind, line, "input")
        messages = None
    chosen = jsonl.assistant_replies(
        value.get("preferred_output"), "preferred_output", line, log, RULES
    )
    rejected = jsonl.assistant_replies(
        value.get("non_preferred_output"), "non_preferred_output", line, log, RULES
    )
    if messages is None or chosen is None or rejected is None or log.total != before:
        return None
    return Example(messages, chosen=chosen, rejected=rejected)
