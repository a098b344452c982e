"""Writing responses the same way in every dialect: a JSON body with the vendor's
request-id header, and an error that tells the vendors' SDKs whether to retry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["error", "json"]


def json(
    body: Any, status_code: int = 200, *, headers: Mapping[str, str | None] | None = None
) -> JSONResponse:
    """`body` as JSON with `headers` set (those whose value is None or empty are left out,
    e.g. a request id the client did not send)."""
    response = JSONResponse(body, status_code=status_code)
    for name, value in (headers or {}).items():
        if value:
            response.headers[name] = value
    return response


def error(
    body: Any, status_code: int, *, headers: Mapping[str, str | None] | None = None
) -> JSONResponse:
    """An error envelope as `json` writes it; a 409 also says `x-should-retry: false`, since
    the SDKs that read it retry a conflict otherwise and retrying cannot fix one."""
    response = json(body, status_code, headers=headers)
    if status_code == 409:
        response.headers["x-should-retry"] = "false"
    return response
