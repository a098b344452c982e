"""`rendered.fragment`: one rendering per object in hand, never a stale one; and
`respond`'s JSON (orjson) with what it does differently from the standard library."""

from __future__ import annotations

import dataclasses
import json

import orjson
import pytest

from tuneyard.api import rendered, respond


@dataclasses.dataclass
class Thing:
    name: str
    step: int


calls: list[Thing] = []


def render(thing: Thing) -> dict[str, object]:
    calls.append(thing)
    return {"name": thing.name, "step": thing.step}


def render_for(thing: Thing, who: str) -> dict[str, object]:
    calls.append(thing)
    return {"name": thing.name, "for": who}


@pytest.fixture(autouse=True)
def _fresh() -> None:
    calls.clear()
    rendered._entries.clear()


def test_the_same_object_is_rendered_once() -> None:
    thing = Thing("a", 1)
    first = rendered.fragment(render, thing)
    again = rendered.fragment(render, thing)
    assert again is first
    assert calls == [thing]
    assert orjson.loads(respond.encode({"result": first})) == {"result": {"name": "a", "step": 1}}


def test_an_equal_object_read_again_is_rendered_afresh() -> None:
    """A job read again is a new object: it may have changed, so it is rendered again."""
    before = Thing("a", 1)
    rendered.fragment(render, before)
    after = Thing("a", 2)
    body = respond.encode(rendered.fragment(render, after))
    assert orjson.loads(body) == {"name": "a", "step": 2}
    assert calls == [before, after]


def test_each_renderer_and_extra_argument_has_its_own_rendering() -> None:
    thing = Thing("a", 1)
    plain = rendered.fragment(render, thing)
    for_x = rendered.fragment(render_for, thing, "x")
    for_y = rendered.fragment(render_for, thing, "y")
    assert orjson.loads(respond.encode(plain)) == {"name": "a", "step": 1}
    assert orjson.loads(respond.encode(for_x)) == {"name": "a", "for": "x"}
    assert orjson.loads(respond.encode(for_y)) == {"name": "a", "for": "y"}
    assert rendered.fragment(render_for, thing, "x") is for_x
    assert len(calls) == 3


def test_entries_are_bounded_and_hold_their_objects() -> None:
    things = [Thing(str(i), i) for i in range(rendered.SIZE + 10)]
    for thing in things:
        rendered.fragment(render, thing)
    assert len(rendered._entries) == rendered.SIZE
    # the newest are kept, the oldest dropped
    rendered.fragment(render, things[-1])
    rendered.fragment(render, things[0])
    assert calls.count(things[-1]) == 1
    assert calls.count(things[0]) == 2


def test_json_is_compact_utf8_as_starlette_wrote_it() -> None:
    body = {"name": "é 한국어", "n": [1, 2.5, None, True], "nested": {"k": "v"}}
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert respond.encode(body) == expected
    response = respond.json(body, 201, headers={"x-request-id": "r1", "empty": None})
    assert response.status_code == 201
    assert response.body == expected
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "r1"
    assert "empty" not in response.headers


def test_json_numbers_parse_back_to_the_same_values() -> None:
    values = [1e-5, 3.9239023238641477e-08, 1e16, 0.1, 123456.789, 2**53, -(2**63)]
    assert json.loads(respond.encode(values)) == values


def test_nan_is_written_as_null_and_what_json_cannot_hold_is_a_value_error() -> None:
    assert respond.encode({"loss": float("nan"), "x": float("inf")}) == b'{"loss":null,"x":null}'
    with pytest.raises(ValueError):
        respond.encode({"n": 2**70})
    with pytest.raises(ValueError):
        respond.encode({"s": {1, 2}})
