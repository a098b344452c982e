"""Baidu Qianfan datasets (spec §3.6): each line a JSON array of turns, SFT or DPO.

SFT: `[{"system": …, "prompt": …, "response": …}, {"prompt": …, "response": …}, …]`,
where `user`/`assistant` are synonyms of `prompt`/`response`, a response may come in the
older `[["…"]]` wrapping, `system` belongs to the first turn, and a turn may carry `weight`
0|1 (0 cannot be held by an Example: `unsupported_weight`). At most 150 turns. DPO: the last
turn is `{"user": …, "chosen": …, "rejected": …}`. Ranked responses (`[["a"], ["b"]]`, for
reward models) are not read. Fields are named by their place: "[1].response".
"""

from __future__ import annotations

from typing import Any

from tuneyard.datasets import jsonl
from tuneyard.datasets.examples import Example, Message
from tuneyard.datasets.report import IssueLog

__all__ = ["MAX_TURNS", "chat", "preference"]

MAX_TURNS = 150
"""Most turns one line may have."""

_PROMPT = ("prompt", "user")
_RESPONSE = ("response", "assistant")
_SFT_KEYS = frozenset({"system", *_PROMPT, *_RESPONSE, "weight"})
_DPO_KEYS = frozenset({"system", *_PROMPT, *_RESPONSE})
_LAST_DPO_KEYS = frozenset({"system", *_PROMPT, "chosen", "rejected"})
_UNKNOWN = "message_unrecognized_key"


def chat(value: Any, line: int, log: IssueLog) -> Example | None:
    """One SFT line: each turn's prompt and response become a user and an assistant message."""
    if not _check_turns(value, line, log):
        return None
    before = log.total
    messages: list[Message] = []
    for index, turn in enumerate(value):
        where = f"[{index}]"
        if not isinstance(turn, dict):
            jsonl.problem(log, "data_type", line, where)
            continue
        jsonl.unknown_keys(turn, _SFT_KEYS, line, log, prefix=where + ".", kind=_UNKNOWN)
        messages += _system(turn, index, line, log)
        messages += _user(turn, where, line, log)
        response = _reply(turn, _RESPONSE, where, line, log)
        messages += [Message("assistant", response)] if response is not None else []
        if "weight" in turn:
            _check_weight(turn["weight"], where + ".weight", line, log)
    return Example(tuple(messages)) if log.total == before else None


def preference(value: Any, line: int, log: IssueLog) -> Example | None:
    """One DPO line: earlier turns are the conversation, the last one's replies the pair."""
    if not _check_turns(value, line, log):
        return None
    before = log.total
    messages: list[Message] = []
    chosen = rejected = None
    for index, turn in enumerate(value):
        where, last = f"[{index}]", index == len(value) - 1
        if not isinstance(turn, dict):
            jsonl.problem(log, "data_type", line, where)
            continue
        keys = _LAST_DPO_KEYS if last else _DPO_KEYS
        jsonl.unknown_keys(turn, keys, line, log, prefix=where + ".", kind=_UNKNOWN)
        messages += _system(turn, index, line, log)
        messages += _user(turn, where, line, log)
        if last:
            chosen = _reply(turn, ("chosen",), where, line, log, kind="missing_preference")
            rejected = _reply(turn, ("rejected",), where, line, log, kind="missing_preference")
        else:
            response = _reply(turn, _RESPONSE, where, line, log)
            messages += [Message("assistant", response)] if response is not None else []
    if chosen is None or rejected is None or log.total != before:
        return None
    pair = (Message("assistant", chosen),), (Message("assistant", rejected),)
    return Example(tuple(messages), chosen=pair[0], rejected=pair[1])


def _check_turns(value: Any, line: int, log: IssueLog) -> bool:
    """Whether a line is a non-empty array of turns; a longer one than MAX_TURNS is logged."""
    if not jsonl.is_array(value, line, log):
        return False
    if not value:
        jsonl.problem(log, "missing_messages_list", line)
        return False
    if len(value) > MAX_TURNS:
        jsonl.problem(log, "too_many_turns", line, f"[{MAX_TURNS}]")
    return True


def _system(turn: dict[str, Any], index: int, line: int, log: IssueLog) -> list[Message]:
    """The system message a first turn's non-blank `system` gives; `system` elsewhere is logged."""
    if "system" not in turn:
        return []
    system, where = turn["system"], f"[{index}].system"
    if index > 0:
        jsonl.problem(log, "misplaced_system", line, where)
    elif not isinstance(system, str):
        jsonl.problem(log, "data_type", line, where)
    elif system.strip():
        return [Message("system", system)]
    return []


def _user(turn: dict[str, Any], where: str, line: int, log: IssueLog) -> list[Message]:
    """The user message of a turn's `prompt` (or `user`)."""
    prompt = _pick(turn, _PROMPT, where, line, log, kind="message_missing_key")
    if prompt is None:
        return []
    content = jsonl.text(prompt[1], f"{where}.{prompt[0]}", line, log)
    return [Message("user", content)] if content is not None else []


def _reply(
    turn: dict[str, Any],
    names: tuple[str, ...],
    where: str,
    line: int,
    log: IssueLog,
    *,
    kind: str = "message_missing_key",
) -> str | None:
    """A turn's response (or chosen/rejected) text, unwrapping the older `[["…"]]` form."""
    found = _pick(turn, names, where, line, log, kind=kind)
    if found is None:
        return None
    name, value = found
    if isinstance(value, list) and len(value) > 1:
        jsonl.problem(log, "unsupported_ranking", line, f"{where}.{name}")
        return None
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0][0] if len(value[0]) == 1 else None
    return jsonl.text(value, f"{where}.{name}", line, log)


def _pick(
    turn: dict[str, Any], names: tuple[str, ...], where: str, line: int, log: IssueLog, *, kind: str
) -> tuple[str, Any] | None:
    """The one key of `names` a turn has, with its value; none or two of them is logged."""
    present = [name for name in names if name in turn]
    if not present:
        jsonl.problem(log, kind, line, f"{where}.{names[0]}")
        return None
    for name in present[1:]:
        jsonl.problem(log, "duplicate_key", line, f"{where}.{name}")
    return present[0], turn[present[0]]


def _check_weight(weight: object, where: str, line: int, log: IssueLog) -> None:
    """Log a turn weight that is not 0|1, or a 0 that an Example cannot hold."""
    if type(weight) is not int or weight not in (0, 1):
        jsonl.problem(log, "invalid_weight", line, where)
    elif weight == 0:
        jsonl.problem(log, "unsupported_weight", line, where)
