"""JSON Lines datasets: each line parsed with orjson, and the checks every vendor shares.

A vendor module gives one `Parser` per format: it turns one parsed line into an `Example`,
logging every problem it finds (line number, field, kind) and returning None when the line
has any. `read` streams the lines through a parser; the helpers below check objects, keys,
messages, texts and the number of examples the same way for every vendor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeGuard

import orjson

from tuneyard.datasets import issues, source
from tuneyard.datasets.examples import Example, Message
from tuneyard.datasets.report import IssueLog, Limits

__all__ = [
    "MIN_EXAMPLES",
    "ChatRules",
    "Parser",
    "assistant_reply",
    "assistant_replies",
    "chat_example",
    "classify",
    "conversation",
    "is_array",
    "is_object",
    "parse",
    "problem",
    "read",
    "require_assistant",
    "require_last_user",
    "require_min",
    "text",
    "unknown_keys",
]

MIN_EXAMPLES = 10
"""Fewest examples a JSON Lines dataset may have (OpenAI's `invalid_n_examples`), at most
`Limits.min_rows`; the other vendors document no hard minimum, so the same one applies."""

Parser = Callable[[Any, int, IssueLog], Example | None]
"""Turns one line's JSON value (and its line number) into an example, or None when logged."""

_SPACE = " \t\r\n"
_LABEL_CHARS = 64
_TYPES: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "boolean"}


@dataclasses.dataclass(frozen=True, slots=True)
class ChatRules:
    """What a vendor accepts in a message, and the neutral role each of its roles becomes."""

    roles: Mapping[str, str]
    """Vendor role -> neutral role ("system", "user" or "assistant")."""
    keys: frozenset[str] = frozenset({"role", "content"})
    """Every key a message may have."""
    tool_roles: frozenset[str] = frozenset()
    """Roles the vendor accepts but an Example cannot hold (tool results)."""
    tool_keys: frozenset[str] = frozenset()
    """Keys the vendor accepts but an Example cannot hold (tool calls)."""
    weight: bool = False
    """Whether an assistant message may carry `weight` 0|1."""


def read(
    lines: Iterable[source.Line],
    parser: Parser,
    log: IssueLog,
    *,
    max_line_bytes: int,
    on_example: Callable[[Example], None] | None,
    classified: bool = False,
) -> int:
    """Parse each non-blank line, pass its example on; the number of records (non-blank lines).

    When `classified`, each chat example becomes a classification one (see `classify`).
    """
    records = 0
    for line in lines:
        if line.too_long:
            issue = issues.line_too_long(line.number, max_line_bytes)
            log.add(dataclasses.replace(issue, kind="line_too_long"))
        elif line.value is source.NOT_PARSED and not line.text.strip(_SPACE):
            continue
        else:
            example = _example(line, parser, log, classified)
            if example is not None and on_example is not None:
                on_example(example)
        records += 1
    return records


def _example(line: source.Line, parser: Parser, log: IssueLog, classified: bool) -> Example | None:
    """One non-blank line's example, or None with its problems logged."""
    value, issue = parse(line)
    if issue is not None:
        log.add(issue)
        return None
    example = parser(value, line.number, log)
    return classify(example, line.number, log) if classified and example is not None else example


def parse(line: source.Line) -> tuple[Any, issues.DatasetIssue | None]:
    """A line's JSON value, or the "Invalid json format" issue that it is not JSON."""
    if line.value is not source.NOT_PARSED:  # the reader's orjson pass already parsed it
        return line.value, None
    try:
        return orjson.loads(line.text), None
    except orjson.JSONDecodeError as exc:
        column = min(exc.pos, len(line.text.rstrip("\r\n"))) + 1  # not past the line's end
        issue = issues.invalid_json(line.number, f"{exc.msg} (column {column})")
        return None, dataclasses.replace(issue, kind="invalid_json")


def problem(log: IssueLog, kind: str, line: int, field: str | None = None) -> None:
    """Log one broken rule of a record."""
    log.add(issues.invalid_example(kind, line, field))


def is_object(value: object, line: int, log: IssueLog) -> TypeGuard[dict[str, Any]]:
    """True when a line holds a JSON object; otherwise logs a data_type problem."""
    return _is(value, dict, line, log)


def is_array(value: object, line: int, log: IssueLog) -> TypeGuard[list[Any]]:
    """True when a line holds a JSON array; otherwise logs a data_type problem."""
    return _is(value, list, line, log)


def _is(value: object, expected: type, line: int, log: IssueLog) -> bool:
    """Whether a line's value has the `expected` JSON type; a data_type problem if not."""
    if isinstance(value, expected):
        return True
    reason = f"expected an {_TYPES[expected]}, found {_type_name(value)}"
    log.add(dataclasses.replace(issues.invalid_json(line, reason), kind="data_type"))
    return False


def _type_name(value: object) -> str:
    """The JSON name of a parsed value's type."""
    return "null" if value is None else _TYPES.get(type(value), "number")


def unknown_keys(
    value: Mapping[str, object],
    allowed: Collection[str],
    line: int,
    log: IssueLog,
    *,
    prefix: str = "",
    kind: str = "example_unrecognized_key",
) -> None:
    """Log each key of an object that is not `allowed`, named `prefix` + key."""
    for key in value:
        if key not in allowed:
            problem(log, kind, line, prefix + _label(key))


def _label(key: str) -> str:
    """A key fit for a message: never empty, never huge."""
    if not key.strip():
        return orjson.dumps(key).decode()
    return key if len(key) <= _LABEL_CHARS else key[:_LABEL_CHARS] + "…"


def text(value: object, field: str, line: int, log: IssueLog) -> str | None:
    """A non-blank string, or None with a missing_content problem logged."""
    if isinstance(value, str) and not _blank(value):
        return value
    problem(log, "missing_content", line, field)
    return None


def conversation(
    value: object, field: str, line: int, log: IssueLog, rules: ChatRules
) -> tuple[Message, ...] | None:
    """A message list checked against `rules`, as neutral messages; None when it has problems."""
    return _messages(value, field, line, log, "missing_messages_list", rules, _message)


def _message(
    value: object, where: str, line: int, log: IssueLog, rules: ChatRules
) -> Message | None:
    """One message checked against `rules`, as a neutral message; None when it has problems."""
    if not isinstance(value, dict):
        problem(log, "data_type", line, where)
        return None
    role, content = value.get("role"), value.get("content")
    if (  # the common case: {"role", "content"}, both fine
        len(value) == 2
        and isinstance(role, str)
        and isinstance(content, str)
        and role in rules.roles
        and not _blank(content)
    ):
        return Message(rules.roles[role], content)
    before = log.total
    unknown_keys(value, rules.keys, line, log, prefix=where + ".", kind="message_unrecognized_key")
    if "role" not in value:
        problem(log, "message_missing_key", line, where + ".role")
    elif not isinstance(role, str) or (role not in rules.roles and role not in rules.tool_roles):
        problem(log, "unrecognized_role", line, where + ".role")
    elif role in rules.tool_roles:
        problem(log, "unsupported_tool_calls", line, where + ".role")
    tool_keys = [key for key in value if key in rules.tool_keys]
    for key in tool_keys:
        problem(log, "unsupported_tool_calls", line, f"{where}.{key}")
    if not tool_keys and not (isinstance(role, str) and role in rules.tool_roles):
        _check_content(value, where, line, log)  # a tool call may come without content
    if rules.weight and "weight" in value:
        _check_weight(value, where, line, log)
    if log.total != before or not isinstance(role, str):
        return None
    return Message(rules.roles[role], value["content"])


def _blank(value: str) -> bool:
    """Whether a string is empty or only whitespace."""
    return not value or value.isspace()


def _check_content(value: dict[str, Any], where: str, line: int, log: IssueLog) -> None:
    """Log a message without content, or whose content is not a non-blank string."""
    if "content" not in value:
        problem(log, "message_missing_key", line, where + ".content")
    else:
        text(value["content"], where + ".content", line, log)


def _check_weight(value: dict[str, Any], where: str, line: int, log: IssueLog) -> None:
    """Log a weight that is not 0|1 on an assistant message, or a 0 no Example can hold."""
    weight = value["weight"]
    if value.get("role") != "assistant" or type(weight) is not int or weight not in (0, 1):
        problem(log, "invalid_weight", line, where + ".weight")
    elif weight == 0:
        problem(log, "unsupported_weight", line, where + ".weight")


def assistant_reply(
    value: object, field: str, line: int, log: IssueLog, rules: ChatRules
) -> Message | None:
    """One assistant message object (a preference reply); None when it has problems."""
    if value is None:
        problem(log, "missing_preference", line, field)
        return None
    before = log.total
    message = _message(value, field, line, log, rules)
    if message is not None and message.role != "assistant":
        problem(log, "unrecognized_role", line, field + ".role")
    return message if log.total == before else None


def assistant_replies(
    value: object, field: str, line: int, log: IssueLog, rules: ChatRules
) -> tuple[Message, ...] | None:
    """A non-empty list of assistant messages (a preference reply); None when it has problems."""
    return _messages(value, field, line, log, "missing_preference", rules, assistant_reply)


def _messages(
    value: object,
    field: str,
    line: int,
    log: IssueLog,
    empty_problem: str,
    rules: ChatRules,
    parse: Callable[[object, str, int, IssueLog, ChatRules], Message | None],
) -> tuple[Message, ...] | None:
    """A non-empty list whose items `parse` checks one by one (each at `field[i]`); None,
    with `empty_problem` or the items' problems logged, unless every item is fine."""
    if value is None or value == []:
        problem(log, empty_problem, line, field)
        return None
    if not isinstance(value, list):
        problem(log, "data_type", line, field)
        return None
    before = log.total
    parsed = [parse(item, f"{field}[{i}]", line, log, rules) for i, item in enumerate(value)]
    return tuple(m for m in parsed if m is not None) if log.total == before else None


def require_assistant(value: object, field: str, line: int, log: IssueLog) -> None:
    """Log a non-empty message list in which no message has the role "assistant"."""
    if isinstance(value, list) and value and not any(_role(m) == "assistant" for m in value):
        problem(log, "example_missing_assistant_message", line, field)


def require_last_user(value: object, field: str, line: int, log: IssueLog) -> None:
    """Log a non-empty message list (a preference prompt) whose last message is not a user's."""
    if isinstance(value, list) and value and _role(value[-1]) != "user":
        problem(log, "last_message_not_user", line, field)


def _role(message: object) -> object:
    """A raw message's role, if it has one."""
    return message.get("role") if isinstance(message, dict) else None


def classify(example: Example, line: int, log: IssueLog) -> Example | None:
    """A chat example as a classification one: its one final assistant reply is the label."""
    last = len(example.messages) - 1
    replies = [i for i, message in enumerate(example.messages) if message.role == "assistant"]
    if replies != [last]:
        problem(log, "classification_needs_one_final_reply", line)
        return None
    return Example(example.messages[:last], example.messages[last].content.strip())


def require_min(records: int, limits: Limits, log: IssueLog) -> None:
    """Log a file with fewer records than MIN_EXAMPLES (or `limits.min_rows`, if lower)."""
    minimum = min(MIN_EXAMPLES, limits.min_rows)
    if records < minimum:
        log.add(issues.too_few_examples(minimum, records))


def chat_example(
    value: Any, line: int, log: IssueLog, *, keys: Collection[str], rules: ChatRules
) -> Example | None:
    """One `{"messages": […]}` line as an SFT example, under a vendor's keys and rules."""
    if not is_object(value, line, log):
        return None
    before = log.total
    unknown_keys(value, keys, line, log)
    raw = value.get("messages")
    messages = conversation(raw, "messages", line, log, rules)
    require_assistant(raw, "messages", line, log)
    if messages is None or log.total != before:
        return None
    return Example(messages)
