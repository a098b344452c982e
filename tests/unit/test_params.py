"""The one strict parser per parameter type (`tuneyard.api.params`) and the wire types
built on it (`tuneyard.api.dialects.values`)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import BaseModel

from tuneyard import errors
from tuneyard.api import params
from tuneyard.api.dialects import values
from tuneyard.storage import tables


@pytest.mark.parametrize(
    "raw",
    ["²", "٣", "１２", "1_000", " 5", "5 ", "+5", "-5", "", "0x10", "1e3", "1.0", "9" * 25],
)
def test_only_ascii_digits_in_range_are_whole_numbers(raw: str) -> None:
    assert not raw.isascii() or not raw.isdigit() or int(raw) > params.MAX_INT
    with pytest.raises(ValueError):
        params.integer(raw)


def test_whole_numbers_are_bounded_and_named() -> None:
    assert params.integer("0") == 0
    assert params.integer(str(params.MAX_INT)) == params.MAX_INT
    assert params.integer("-3", low=-5) == -3
    with pytest.raises(ValueError):
        params.integer(str(params.MAX_INT + 1))
    assert params.whole(None, "page", default=7) == 7
    assert params.whole("", "page", default=7) == 7
    with pytest.raises(errors.InvalidRequest) as caught:
        params.whole("²", "page", default=0)
    assert caught.value.param == "page"
    with pytest.raises(errors.InvalidRequest):
        params.whole("101", "size", default=20, low=1, high=100)


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "\x1b[31m", "x" * 257])
def test_text_parameters_refuse_control_characters_and_length(value: str) -> None:
    with pytest.raises(errors.InvalidRequest):
        params.text(value, "model")


def test_ids_refuse_control_characters_and_over_1024_bytes() -> None:
    assert params.ident("ft-202611231207-abcd", "job_id") == "ft-202611231207-abcd"
    assert params.ident("é" * 512, "job_id")
    for bad in ("a\x00", "é" * 513, "x" * 1025):
        with pytest.raises(errors.InvalidRequest):
            params.ident(bad, "job_id")


class _Body(BaseModel):
    n: values.Int | None = None
    x: values.Float | None = None
    name: values.OptName = None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", True),
        ("n", False),
        ("x", True),
        ("n", "²"),
        ("n", 10**30),
        ("n", "9" * 25),
        ("n", 1.5),
        ("x", "1e999"),
        ("x", "NaN"),
        ("x", math.inf),
        ("x", 10**400),
        ("name", "x" * 257),
        ("name", "a\x00b"),
        ("name", "tab\there"),
    ],
)
def test_wire_numbers_are_never_booleans_and_names_are_bounded(field: str, value: Any) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        values.validated(_Body, {field: value})
    assert caught.value.param == field


def test_wire_numbers_as_clients_send_them() -> None:
    body = values.validated(_Body, {"n": "8", "x": "1e-5f", "name": "  "})
    assert (body.n, body.x, body.name) == (8, 1e-5, None)
    assert values.validated(_Body, {"n": 3.0, "x": 2}).n == 3
    assert values.number("1e-4") == 1e-4 and values.number("8") == 8


@pytest.mark.parametrize(
    "body",
    [
        {"a": "x\x00"},
        {"a\x00": 1},
        {"a": [1, {"b": float("nan")}]},
        {"a": float("inf")},
        {"a": [[[[[[[[[[]]]]]]]]]]},
    ],
)
def test_a_tree_with_nul_non_finite_numbers_or_too_deep_is_refused(body: Any) -> None:
    with pytest.raises(errors.InvalidRequest):
        params.check_tree(body, most_depth=8)


def test_a_deep_tree_is_walked_without_recursion() -> None:
    body: Any = 1
    for _ in range(100_000):
        body = [body]
    with pytest.raises(errors.InvalidRequest):
        params.check_tree(body)


def test_name_limits_are_the_columns_that_keep_them() -> None:
    for column in (
        tables.jobs.c.display_name,
        tables.jobs.c.output_name,
        tables.jobs.c.base_model,
        tables.job_groups.c.name,
        tables.job_groups.c.base_model,
    ):
        assert column.type.length == values.NAME_MAX, column  # type: ignore[attr-defined]
    assert tables.jobs.c.id.type.length == 40  # type: ignore[attr-defined]
    assert values.fits_name("n" * (values.NAME_MAX - 40) + "{job_id}")
    assert not values.fits_name("n" * (values.NAME_MAX - 39) + "{job_id}")
