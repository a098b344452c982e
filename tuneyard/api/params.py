"""One strict parser per parameter type, shared by every dialect's routes and wire models.

A number is ASCII digits only (`[0-9]+`: no `²`, no `٣`, no `1_000`, no sign unless the
range allows negatives) inside a stated range, and never larger than `MAX_INT` (2**53, what
every JSON client and both SQL backends hold exactly). A boolean is never a number. A
string a route keeps or looks up has no control characters and a bounded length. The
`*_value` functions raise ValueError for the wire models (which report every problem at
once); `whole`, `text`, `note` and `ident` raise InvalidRequest naming the query parameter
or form field.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from typing import Any

from tuneyard import errors

__all__ = [
    "MAX_INT",
    "MAX_PATH_BYTES",
    "MAX_NOTE",
    "MAX_TEXT",
    "MAX_DEPTH",
    "NumberedPage",
    "check_tree",
    "float_value",
    "has_controls",
    "ident",
    "int_value",
    "integer",
    "limit",
    "note",
    "numbered_page",
    "text",
    "whole",
]

MAX_INT = 2**53
"""The largest whole number any parameter may carry (exact in a JSON double and in SQL)."""
MAX_PATH_BYTES = 1024
"""The longest path or id (UTF-8 bytes) a request may name."""
MAX_TEXT = 256
"""The longest free-text query value (a name, a filter) when the route says no other."""
MAX_NOTE = 4096
"""The longest free-text description (of an uploaded file) a request may set."""
MAX_DEPTH = 64
"""How deeply a JSON body may nest objects and arrays (`{}` is depth 1), as
`tuneyard.api.bodies` reads it."""

_DIGITS = re.compile(r"-?[0-9]{1,17}")
_NUMBER = re.compile(r"\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]{1,4})?)[fFdDlL]?\s*")


def integer(raw: str, *, low: int = 0, high: int = MAX_INT) -> int:
    """`raw` as a whole number in [low, high]; ValueError for anything else (Unicode
    digits, signs, blanks, underscores, too many digits, out of range)."""
    if not _DIGITS.fullmatch(raw) or (raw.startswith("-") and low >= 0):
        raise ValueError(f"{raw[:40]!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{value} is not between {low} and {high}")
    return value


def whole(raw: str | None, name: str, *, default: int, low: int = 0, high: int = MAX_INT) -> int:
    """A query or path parameter as a whole number in [low, high] (`default` when it was
    not sent or is blank); InvalidRequest naming the parameter otherwise."""
    if raw is None or raw == "":
        return default
    try:
        return integer(raw, low=low, high=high)
    except ValueError:
        raise errors.InvalidRequest(
            f"{name} must be a whole number from {low} to {high}", param=name
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class NumberedPage:
    """Which page of a numbered listing a query asks for."""

    number: int
    """The page's number as the client counts (from 0 or from 1)."""
    size: int
    """How many items a page holds."""
    offset: int
    """How many items come before the page."""


def numbered_page(
    number: str | None,
    size: str | None,
    *,
    names: tuple[str, str],
    first: int,
    default_size: int,
    most: int = 100,
) -> NumberedPage:
    """The page a `page`/`size`-style query names (`names` are the two parameters'):
    numbered from `first` (0 or 1, also the default), of `default_size` items unless the
    client asks for 1 to `most`; InvalidRequest naming the parameter otherwise."""
    count = whole(size, names[1], default=default_size, low=1, high=most)
    page = whole(number, names[0], default=first, low=first, high=MAX_INT // 100)
    return NumberedPage(number=page, size=count, offset=(page - first) * count)


def limit(raw: str | None, *, default: int, most: int, name: str = "limit") -> int:
    """How many items a cursor page may hold: 1 to `most`, `default` when not sent."""
    return whole(raw, name, default=default, low=1, high=most)


def has_controls(value: str) -> bool:
    """Whether `value` holds a control character (NUL, newline, escape, …)."""
    return any(unicodedata.category(c) == "Cc" for c in value)


def text(raw: str | None, name: str, *, most: int = MAX_TEXT) -> str | None:
    """A free-text query parameter (a name, a filter): None when not sent or blank;
    InvalidRequest when it holds a control character or more than `most` characters."""
    if raw is None or not raw.strip():
        return None
    if has_controls(raw) or len(raw) > most:
        raise errors.InvalidRequest(
            f"{name} must be at most {most} characters with no control characters", param=name
        )
    return raw


def note(raw: str, name: str, *, most: int = MAX_NOTE) -> str:
    """A free-text description: line breaks and tabs allowed, but no NUL or other control
    character and at most `most` characters; InvalidRequest otherwise."""
    if has_controls(raw.replace("\n", "").replace("\r", "").replace("\t", "")) or len(raw) > most:
        raise errors.InvalidRequest(
            f"{name} must be at most {most} characters with no control characters", param=name
        )
    return raw


def ident(raw: str, name: str) -> str:
    """An id named in a path or query (a job, a file, a marker): refused with
    InvalidRequest when it holds control characters or is over MAX_PATH_BYTES; an id
    that merely does not exist is for the lookup to report."""
    if has_controls(raw) or len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise errors.InvalidRequest(
            f"{name} must be at most {MAX_PATH_BYTES} bytes with no control characters",
            param=name,
        )
    return raw


def int_value(value: Any) -> Any:
    """A body field's whole number: an int (not a bool), a whole float, or a numeric string
    ("8", "1e3"); within ±MAX_INT. Other types pass through for the model's own check."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a whole number")
    if isinstance(value, str):
        value = _parse(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not a whole number")
        value = int(value)
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise ValueError(f"{value} is out of range (at most {MAX_INT})")
    return value


def float_value(value: Any) -> Any:
    """A body field's number: an int or float (not a bool) or a numeric string ("1e-4",
    Java-style "1e-5f"); finite. Other types pass through for the model's own check."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str):
        value = _parse(value)
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise ValueError("the number is out of range")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the number must be finite")
    return value


def _parse(raw: str) -> int | float:
    """A numeric string as a number: ints stay ints ("8" → 8), the rest floats."""
    found = _NUMBER.fullmatch(raw)
    if not found:
        raise ValueError(f"{raw[:40]!r} is not a number")
    body = found.group(1)
    if re.fullmatch(r"[-+]?[0-9]{1,17}", body):
        return int(body)
    try:
        parsed = float(body)
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not a number") from None
    if not math.isfinite(parsed):
        raise ValueError(f"{raw[:40]!r} is out of range")
    return parsed


def check_tree(body: Any, prefix: str = "", *, most_depth: int = MAX_DEPTH) -> None:
    """Walk a parsed JSON body without recursion: InvalidRequest (naming the path) for
    nesting deeper than `most_depth`, a NUL in any key or string, or a number that is not
    finite (NaN, Infinity, 1e999), none of which any field can hold; `prefix` is put before
    each path (the field the body was found in)."""
    stack: list[tuple[Any, str, int]] = [(body, prefix.rstrip("."), 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > most_depth and isinstance(node, dict | list):
            raise errors.InvalidRequest(
                f"the body nests deeper than {most_depth} levels", param=path or None
            )
        if isinstance(node, str):
            if "\x00" in node:
                raise errors.InvalidRequest(f"{path or 'body'}: NUL is not allowed", param=path)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise errors.InvalidRequest(f"{path}: the number must be finite", param=path)
        elif isinstance(node, dict):
            for key, item in node.items():
                if "\x00" in str(key):
                    raise errors.InvalidRequest(f"{path}: NUL is not allowed in a key", param=path)
                stack.append((item, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node))
