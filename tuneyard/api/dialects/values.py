"""Field types the dialects' wire models share: numbers as clients send them (never
booleans), names and paths bounded by the columns that keep them, blank → None.

The parsing itself is `tuneyard.api.params`, the one strict parser per type that the
routes' query and path parameters use too.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError

from tuneyard import errors
from tuneyard.api import params

__all__ = [
    "NAME_MAX",
    "PATH_MAX_BYTES",
    "Float",
    "Int",
    "Name",
    "fits_name",
    "ObjectPath",
    "OptName",
    "OptStr",
    "number",
    "validated",
]

_M = TypeVar("_M", bound=BaseModel)

NAME_MAX = 256
"""The longest name a job, job group, output model or base model may have (the
`display_name`, `name`, `output_name` and `base_model` columns)."""
PATH_MAX_BYTES = params.MAX_PATH_BYTES
"""The longest object-storage path (UTF-8 bytes) a request may name."""


def number(value: Any) -> Any:
    """8, "8", 1e-4, "1e-4" and Java-style "1e-5f" as numbers (ints stay ints); other values
    pass through for the model's own type check. Booleans and non-finite numbers are
    refused (ValueError)."""
    return params.float_value(value)


_LONGEST_ID = 40
"""The longest id a job can be given (the `jobs.id` column)."""


def fits_name(template: str) -> bool:
    """Whether a name, with `{job_id}` in it standing for the new job's id, fits NAME_MAX."""
    return len(template.replace("{job_id}", "x" * _LONGEST_ID)) <= NAME_MAX


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _name(value: str) -> str:
    if params.has_controls(value):
        raise ValueError("control characters are not allowed")
    if len(value) > NAME_MAX:
        raise ValueError(f"at most {NAME_MAX} characters")
    return value


def _path(value: str | None) -> str | None:
    if value is None:
        return None
    if params.has_controls(value):
        raise ValueError("control characters are not allowed")
    if len(value.encode("utf-8", "surrogatepass")) > PATH_MAX_BYTES:
        raise ValueError(f"at most {PATH_MAX_BYTES} bytes")
    return value


Int = Annotated[int, BeforeValidator(params.int_value)]
"""A whole number within ±2**53: an int, a whole float or a numeric string; not a bool."""
Float = Annotated[float, BeforeValidator(params.float_value)]
"""A finite number: an int, a float or a numeric string; not a bool."""
Name = Annotated[str, AfterValidator(_name)]
"""A name or id: at most NAME_MAX characters, no control characters."""
OptName = Annotated[Name | None, BeforeValidator(_blank_to_none)]
"""A Name, or None when missing or blank."""
OptStr = OptName
"""A short optional string (an enum value, a mode): the same bounds as OptName."""
ObjectPath = Annotated[str | None, BeforeValidator(_blank_to_none), AfterValidator(_path)]
"""An object-storage path: at most PATH_MAX_BYTES, no control characters; blank → None."""


_BRANCHES = frozenset({"int", "float", "str", "bool", "none", "list", "dict"})


def _field_path(loc: tuple[int | str, ...]) -> list[str]:
    """A pydantic error location as field names and indexes, without the union branch
    tags pydantic adds (`literal['auto']`, `function-before[…]`, `int`)."""
    return [
        str(part)
        for part in loc
        if isinstance(part, int) or not ("[" in part or "(" in part or part in _BRANCHES)
    ]


def validated(model: type[_M], body: Any, prefix: str = "", *, full_param: bool = False) -> _M:
    """`body` as `model`; every problem is reported at once as InvalidRequest, whose
    `param` names the first bad field (its top-level key, or with `full_param` its whole
    path), `prefix` put before each name. A body nested too deeply, or holding a NUL or a
    non-finite number anywhere, is refused before any field is read."""
    params.check_tree(body, prefix)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{prefix}{'.'.join(_field_path(e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        first = _field_path(exc.errors()[0]["loc"])
        name = ".".join(first) if full_param else first[0] if first else ""
        raise errors.InvalidRequest(
            "; ".join(problems), param=f"{prefix}{name}" if first else None
        ) from exc
