"""Qianfan's chat request bodies: the custom-service endpoint the SDK's
`ChatCompletion(endpoint=…)` calls (`POST /rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{endpoint}`,
the ERNIE-era v1 fields) and the OpenAI-compatible `POST /v2/chat/completions`.

v1: numbers must be JSON numbers and flags JSON booleans; keys the vendor does not define
are refused, except what the SDK adds to every body (`extra_parameters`). Search and
citation switches are accepted (nothing is searched here either way); function calling
and a JSON response format are refused by name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tuneyard.api.dialects.openai.chat_wire import Number, Whole
from tuneyard.api.dialects.values import validated

__all__ = ["V2_EXTRAS", "ChatRequest", "Message", "parse"]

V2_EXTRAS = frozenset(
    {"penalty_score", "web_search", "user_id", "extra_parameters", "disable_search"}
)
"""Keys `/v2/chat/completions` takes beyond OpenAI's (read by `chat.v2_generate`)."""


class Message(BaseModel):
    """One turn: user and assistant alternate, starting and ending with the user."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str
    name: str | None = None


class ChatRequest(BaseModel):
    """`POST …/wenxinworkshop/chat/{endpoint}`."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False
    system: str | None = Field(None, max_length=20000)
    temperature: Number | None = Field(None, gt=0, le=1)
    top_p: Number | None = Field(None, ge=0, le=1)
    top_k: Whole | None = Field(None, ge=0)
    penalty_score: Number | None = Field(None, ge=1, le=2)
    frequency_penalty: Number | None = Field(None, ge=-2, le=2)
    presence_penalty: Number | None = Field(None, ge=-2, le=2)
    max_output_tokens: Whole | None = Field(None, ge=1)
    stop: list[str] | None = Field(None, max_length=4)
    seed: Whole | None = None
    user_id: str | None = None
    disable_search: StrictBool | None = None
    enable_citation: StrictBool | None = None
    enable_trace: StrictBool | None = None
    response_format: Literal["text", "json_object"] | None = None
    functions: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | str | None = None
    extra_parameters: dict[str, Any] | None = None


def parse(body: dict[str, Any]) -> ChatRequest:
    """Validate a v1 chat body; every problem at once, the first one's field as `param`."""
    return validated(ChatRequest, body, full_param=True)
