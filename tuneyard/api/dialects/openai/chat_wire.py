"""OpenAI's chat completions request body, as the SDK sends it.

Numbers must be JSON numbers (not strings, not booleans) and flags JSON booleans, as the
real API insists; unknown keys are refused. What tuneyard accepts but does not do
(tools, a JSON response format, logit bias, audio) is refused by `chat.check` with the
field named, never silently ignored.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from tuneyard.api import params
from tuneyard.api.dialects.values import Name, validated

__all__ = [
    "MAX_N",
    "MAX_STOP",
    "MAX_TOP_LOGPROBS",
    "ChatRequest",
    "Message",
    "Number",
    "Whole",
    "parse",
]

MAX_N = 16
"""Most choices one request may ask for (`n`)."""
MAX_STOP = 4
"""Most stop strings (`stop`), as OpenAI allows."""
MAX_TOP_LOGPROBS = 20
"""Most alternatives per token (`top_logprobs`), as OpenAI allows."""


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the number must be finite")
    return value


def _whole(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not an integer")
        value = int(value)
    if not -params.MAX_INT <= value <= params.MAX_INT:
        raise ValueError(f"{value} is out of range")
    return value


Number = Annotated[float, BeforeValidator(_number)]
"""A finite JSON number (an integer or a decimal); not a string, not a boolean."""
Whole = Annotated[int, BeforeValidator(_whole)]
"""A JSON integer within ±2**53 (a whole decimal such as 2.0 too); not a string."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    """A content part; only text is served."""

    type: Literal["text"]
    text: str


class Message(_Strict):
    """One message of the conversation."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    refusal: str | None = None


class ResponseFormat(_Strict):
    """`response_format`: only `{"type": "text"}` is served."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class StreamOptions(_Strict):
    """`stream_options`."""

    include_usage: StrictBool | None = None
    include_obfuscation: StrictBool | None = None


class ChatRequest(_Strict):
    """`POST /v1/chat/completions`."""

    model: Name
    messages: list[Message] = Field(min_length=1)
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    n: Whole | None = Field(None, ge=1, le=MAX_N)
    max_tokens: Whole | None = Field(None, ge=1)
    max_completion_tokens: Whole | None = Field(None, ge=1)
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: Whole | None = None
    frequency_penalty: Number | None = Field(None, ge=-2, le=2)
    presence_penalty: Number | None = Field(None, ge=-2, le=2)
    logprobs: StrictBool | None = None
    top_logprobs: Whole | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: ResponseFormat | None = None
    logit_bias: dict[str, Number] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    modalities: list[str] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: StrictBool | None = None
    service_tier: str | None = None


def parse(body: dict[str, Any]) -> ChatRequest:
    """Validate the body; every problem at once, the first one's field path as `param`."""
    return validated(ChatRequest, body, full_param=True)
