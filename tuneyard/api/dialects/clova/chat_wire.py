"""CLOVA's chat completions request body on a tuned task, as its clients send it: the v1
names (`maxTokens`, `repeatPenalty`, `stopBefore`) and the v3 ones (`maxCompletionTokens`,
`repetitionPenalty`, `stop`) in one model, each route reading its own version's names
first (`chat`).

Numbers may be JSON numbers or numeric strings, as on CLOVA's create route; keys CLOVA
defines for features a tuned task does not have (`thinking`, `tools`, `responseFormat`,
image parts) are refused by `chat.check` naming the field, other unknown keys are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tuneyard.api.dialects.values import Float, Int, validated

__all__ = ["MAX_SEED", "MAX_STOP", "MAX_TOKENS_V1", "ChatRequest", "Message", "Part", "parse"]

MAX_SEED = 4_294_967_295
"""The largest `seed` CLOVA takes (0 asks for a random one)."""
MAX_TOKENS_V1 = 4096
"""The largest v1 `maxTokens` CLOVA's guide allows."""
MAX_STOP = 16
"""Most stop strings one request may send (CLOVA's guides set no limit; tuneyard does)."""

Stops = Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=MAX_STOP)]


class Part(BaseModel):
    """A v3 content part: `{"type": "text", "text": …}` (an `image_url` part is refused)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class Message(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[Part] | None = None


class ChatRequest(BaseModel):
    """`POST …/tasks/{taskId}/chat-completions` (v1 and v3)."""

    model_config = ConfigDict(extra="ignore")

    messages: list[Message] = Field(min_length=1)
    temperature: Float | None = Field(None, ge=0, le=1)
    topP: Float | None = Field(None, gt=0, le=1)
    topK: Int | None = Field(None, ge=0, le=128)
    maxTokens: Int | None = Field(None, ge=1)
    maxCompletionTokens: Int | None = Field(None, ge=1)
    repeatPenalty: Float | None = Field(None, gt=0, le=10)
    repetitionPenalty: Float | None = Field(None, gt=0, le=2)
    stopBefore: Stops | None = None
    stop: Stops | None = None
    seed: Int | None = Field(None, ge=0, le=MAX_SEED)
    includeAiFilters: StrictBool | None = None
    thinking: dict[str, Any] | None = None
    tools: list[Any] | None = None
    toolChoice: Any = None
    responseFormat: dict[str, Any] | None = None


def parse(body: dict[str, Any]) -> ChatRequest:
    """Validate the body; every problem is reported at once as InvalidRequest."""
    return validated(ChatRequest, body, full_param=True)
