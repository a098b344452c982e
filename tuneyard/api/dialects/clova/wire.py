"""CLOVA wire models: the vendor's field names exactly, numbers as numbers or strings."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from tuneyard import errors

__all__ = ["CreateTask", "parse_create"]

_JAVA_SUFFIX = re.compile(r"^\s*([-+0-9.eE]+)[fFdDlL]?\s*$")


def _number(value: Any) -> Any:
    """Accept 8, "8", 1e-4, "1e-4" and Java-style "1e-5f" as clients send them."""
    if isinstance(value, str):
        match = _JAVA_SUFFIX.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a number")
        text = match.group(1)
        number = float(text)
        return int(number) if number.is_integer() and not re.search(r"[.eE]", text) else number
    return value


def _whole(value: Any) -> Any:
    value = _number(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not a whole number")
        return int(value)
    return value


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Int = Annotated[int, BeforeValidator(_whole)]
Float = Annotated[float, BeforeValidator(_number)]
OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]


class CreateTask(BaseModel):
    """`POST /tuning/v2/tasks` body (JSON or multipart fields), spec §1.4."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: OptStr = None
    model: str
    tuningType: OptStr = None
    method: OptStr = None
    taskType: OptStr = None
    trainEpochs: Int | None = None
    learningRate: Float | None = None
    trainingDatasetBucket: OptStr = None
    trainingDatasetFilePath: OptStr = None
    trainingDatasetAccessKey: OptStr = None
    trainingDatasetSecretKey: OptStr = None


def parse_create(fields: dict[str, Any]) -> CreateTask:
    """Validate the create fields; every problem is reported at once as InvalidRequest."""
    try:
        return CreateTask.model_validate(fields)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        first = exc.errors()[0]["loc"]
        raise errors.InvalidRequest(
            "; ".join(problems), param=str(first[0]) if first else None
        ) from exc
