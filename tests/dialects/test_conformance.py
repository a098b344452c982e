"""Every dialect, the vendors' and the fixture fifth (`tests/dialects/echo`), keeps the
same shape: the files every dialect has, a vendor status for every neutral status, an
error row for every neutral code an error can carry, a golden file for every route, and
every route under its prefix."""

from __future__ import annotations

import importlib
import json

import pytest
from fastapi.routing import APIRoute
from starlette.requests import Request

from tests.dialects import echo
from tests.support import golden
from tuneyard.api import dialects
from tuneyard.api import errors as api_errors
from tuneyard.api.dialects.record import Dialect
from tuneyard.api.errors import Code
from tuneyard.core.states import JobStatus

EVERY = [*dialects.ALL, echo.DIALECT]
FILES = ("wire", "create", "translate", "routes")
"""The modules every dialect package has (`docs/adding-a-dialect.md`)."""

each = pytest.mark.parametrize("dialect", EVERY, ids=[d.name for d in EVERY])


def _routes(dialect: Dialect) -> list[APIRoute]:
    return [r for router in dialect.routers for r in router.routes if isinstance(r, APIRoute)]


def _golden_requests(name: str) -> list[tuple[str, str]]:
    """(method, path with query) of every golden exchange of a dialect that records its
    request."""
    found = []
    for path in sorted((golden.GOLDEN / name).glob("*.json")):
        request = json.loads(path.read_text(encoding="utf-8")).get("request")
        if request is not None:
            found.append((request["method"], request["path"]))
    return found


def test_the_vendor_dialects_are_mounted_and_the_fixture_is_not() -> None:
    names = [d.name for d in dialects.ALL]
    assert names == ["clova", "dashscope", "qianfan", "openai"]
    assert echo.DIALECT not in dialects.ALL


def test_every_code_can_occur() -> None:
    """No dialect keeps a row that can never fire."""
    assert api_errors.occurring() == frozenset(Code)


@each
def test_the_package_has_the_files_every_dialect_has(dialect: Dialect) -> None:
    package = dialect.render_error.__module__.rsplit(".", 1)[0]
    for name in FILES:
        importlib.import_module(f"{package}.{name}")
    assert importlib.import_module(package).DIALECT is dialect
    assert importlib.import_module(f"{package}.create").ID_STYLE is dialect.id_scheme


@each
def test_every_status_has_a_vendor_status(dialect: Dialect) -> None:
    assert set(dialect.statuses) == set(JobStatus)
    assert all(isinstance(v, str) and v for v in dialect.statuses.values())


@each
def test_every_code_has_an_error_row(dialect: Dialect) -> None:
    assert set(dialect.errors) == set(Code)


@each
def test_every_code_renders_with_its_row_status(dialect: Dialect) -> None:
    """The renderer reads the table: each code gets a response, with the row's HTTP status
    where the row has one (CLOVA's rows carry its status.code; the HTTP status is the
    neutral one)."""
    request = Request({"type": "http", "method": "GET", "path": dialect.prefix, "headers": []})
    for code, row in dialect.errors.items():
        response = dialect.render_error(request, 418, code, "a message", None)
        expected = row[0] if isinstance(row[0], int) else 418
        assert response.status_code == expected, (code, row)


@each
def test_every_route_is_under_the_prefix(dialect: Dialect) -> None:
    assert _routes(dialect)
    for route in _routes(dialect):
        assert route.path.startswith(dialect.prefixes), route.path


@each
def test_every_route_has_a_golden_file(dialect: Dialect) -> None:
    requests = [(m, p.split("?")[0]) for m, p in _golden_requests(dialect.name)]
    missing = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in _routes(dialect)
        if not any(m in (route.methods or ()) and route.path_regex.match(p) for m, p in requests)
    ]
    assert missing == [], f"no golden file under {golden.GOLDEN / dialect.name} for {missing}"


@each
def test_dataset_formats_are_formats_tuneyard_reads(dialect: Dialect) -> None:
    from tuneyard.datasets import validator

    assert dialect.dataset_formats and dialect.dataset_formats <= set(validator.FORMATS)


def test_qianfan_has_a_golden_file_for_every_action() -> None:
    """Qianfan's one route dispatches on `?Action=`: each Action is a route of its own."""
    from tuneyard.api.dialects.qianfan import routes

    paths = {path for _, path in _golden_requests("qianfan")}
    missing = [a for a in routes.ACTIONS if f"{routes.PREFIX}?Action={a}" not in paths]
    assert missing == []
