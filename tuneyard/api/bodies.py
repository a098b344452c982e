"""Reading request bodies the same way in every dialect: a JSON object, an upload's chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from fastapi import Request

from tuneyard import errors

__all__ = ["chunks", "json_object"]


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; anything else is InvalidRequest."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise errors.InvalidRequest(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.InvalidRequest("The body must be a JSON object")
    return body


def chunks(handle: BinaryIO) -> Iterator[bytes]:
    """An uploaded file's bytes, 1 MiB at a time."""
    while chunk := handle.read(1 << 20):
        yield chunk
