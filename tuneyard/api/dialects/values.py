"""Field types the dialects' wire models share: numbers as clients send them, blank → None."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError

from tuneyard import errors

__all__ = ["Float", "Int", "OptStr", "number", "validated"]

_M = TypeVar("_M", bound=BaseModel)

_NUMBER = re.compile(r"^\s*([-+0-9.eE]+)[fFdDlL]?\s*$")


def number(value: Any) -> Any:
    """8, "8", 1e-4, "1e-4" and Java-style "1e-5f" as numbers (ints stay ints); other values
    pass through for the model's own type check."""
    if isinstance(value, str):
        match = _NUMBER.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a number")
        text = match.group(1)
        try:
            parsed = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        return int(parsed) if parsed.is_integer() and not re.search(r"[.eE]", text) else parsed
    return value


def _whole(value: Any) -> Any:
    value = number(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not a whole number")
        return int(value)
    return value


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Int = Annotated[int, BeforeValidator(_whole)]
Float = Annotated[float, BeforeValidator(number)]
OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]


def validated(model: type[_M], body: Any, prefix: str = "", *, full_param: bool = False) -> _M:
    """`body` as `model`; every problem is reported at once as InvalidRequest, whose
    `param` names the first bad field (its top-level key, or with `full_param` its whole
    path), `prefix` put before each name."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{prefix}{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        first = exc.errors()[0]["loc"]
        name = ".".join(str(p) for p in first) if full_param else str(first[0]) if first else ""
        raise errors.InvalidRequest(
            "; ".join(problems), param=f"{prefix}{name}" if first else None
        ) from exc
