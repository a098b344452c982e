"""Reading request bodies the same way in every dialect: a JSON object, an upload's chunks.

The body's size is bounded before it gets here (`tuneyard.api.limits`); its nesting is
bounded here, so no body can make parsing or anything after it recurse without end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson
from fastapi import Request

from tuneyard import errors
from tuneyard.api import params

__all__ = ["chunks", "json_object"]

_BOM = b"\xef\xbb\xbf"


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object: MalformedBody when it is not one; InvalidRequest when it
    nests past `params.MAX_DEPTH` or holds what no field can (see `params.check_tree`)."""
    try:
        body = orjson.loads((await request.body()).removeprefix(_BOM))
    except orjson.JSONDecodeError as exc:
        raise errors.MalformedBody(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.MalformedBody("The body must be a JSON object")
    params.check_tree(body)
    return body


def chunks(handle: BinaryIO) -> Iterator[bytes]:
    """An uploaded file's bytes, 1 MiB at a time."""
    while chunk := handle.read(1 << 20):
        yield chunk
