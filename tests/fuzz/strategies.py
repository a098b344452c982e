"""Hostile inputs for the fuzz tier: strings, numbers and JSON a careless or hostile client
sends, and valid-ish bodies with one field broken."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# Strings that have broken parsers before: Unicode digits (`"²".isdigit()` but `int("²")`
# fails), numbers past SQLite's 64 bits, signs, blanks, NUL and control characters, and
# names far past any column.
NASTY_STRINGS = [
    "",
    " ",
    "0",
    "1",
    "-1",
    "+1",
    "²",
    "٣",
    "１２",
    "1_000",
    "0x10",
    " 5",
    "5 ",
    "1e3",
    "1.5",
    "NaN",
    "Infinity",
    "true",
    "null",
    "9" * 20,
    "9" * 25,
    "1" + "0" * 400,
    "-" + "9" * 25,
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "line\nbreak",
    "../../../../etc/passwd",
    "%00",
    "é" * 600,
    "x" * 5000,
    "🦙" * 300,
]

NUMERIC_STRINGS = [
    "-1",
    "²",
    "٣",
    "１２",
    "1e3",
    str(2**31),
    str(2**53 + 1),
    str(2**63),
    str(2**64),
    "9" * 20,
    "9" * 25,
    "-" + "9" * 25,
    "1" + "0" * 400,
]
"""Number look-alikes that pass `str.isdigit()` but not `int()`, or overflow SQL."""

_CHARS = st.characters(blacklist_categories=("Cs",))  # lone surrogates cannot be sent


def text() -> st.SearchStrategy[str]:
    """Any sendable string, weighted towards the nasty ones."""
    return st.one_of(
        st.sampled_from(NUMERIC_STRINGS),
        st.sampled_from(NUMERIC_STRINGS),
        st.sampled_from(NASTY_STRINGS),
        st.sampled_from(NASTY_STRINGS),
        st.text(_CHARS, max_size=40),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
    )


def segment() -> st.SearchStrategy[str]:
    """A path segment as sent on the wire (percent-encoded, so it stays one segment)."""
    return text().filter(lambda s: s not in ("", ".", "..")).map(lambda s: quote(s, safe=""))


def numbers() -> st.SearchStrategy[Any]:
    """Numbers and number look-alikes: booleans, huge ints, floats past any range."""
    return st.one_of(
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([0, 1, -1, 2**31, 2**53, 2**63, 2**64, 10**25, 1e308, -1e308, 1e-320]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["8", "1e-4", "1e-5f", "²", "9" * 25, "true", ""]),
    )


def scalars() -> st.SearchStrategy[Any]:
    """Any JSON scalar, nasty ones first."""
    return st.one_of(st.none(), numbers(), text())


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value: scalars, and lists and objects of them."""
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(text(), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def nested(depth: int) -> Any:
    """`depth` arrays and objects inside each other."""
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with one field (possibly nested one level) replaced, removed, or joined by
    an unknown key; or a deeply nested value in its place."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        body = json.loads(json.dumps(base))
        target = body
        nested_keys = [k for k, v in body.items() if isinstance(v, dict) and v]
        if nested_keys and draw(st.booleans()):
            target = body[draw(st.sampled_from(sorted(nested_keys)))]
        key = draw(st.sampled_from(sorted(target)) | text() if target else text())
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "deep"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "deep":
            target[key] = nested(draw(st.integers(min_value=1, max_value=200)))
        else:
            target[key] = draw(json_values())
        return body

    return build()


def bodies(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Request bodies: the valid one mutated, any JSON value, or bytes that are not JSON."""
    return st.one_of(
        mutated(valid).map(_dump),
        mutated(valid).map(_dump),
        mutated(valid).map(_dump),
        json_values().map(_dump),
        st.binary(max_size=64),
        st.sampled_from([b"", b"{", b"[]", b"null", b'"x"', b"{}", b'{"a":NaN}', b"\xff\xfe"]),
    )


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def queries(names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Query parameters: the route's own names (and a stray one) with hostile values."""

    @st.composite
    def build(draw: st.DrawFn) -> list[tuple[str, str]]:
        sent = [(name, draw(text())) for name in names if draw(st.booleans())]
        return sent + draw(st.lists(st.tuples(text(), text()), max_size=1))

    return build()
