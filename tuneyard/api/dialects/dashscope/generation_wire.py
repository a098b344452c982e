"""DashScope text generation requests (`POST /api/v1/services/aigc/text-generation/
generation`): `{model, input: {messages | prompt}, parameters}` as the SDK sends them.

Numbers must be JSON numbers. Unknown `parameters` keys are ignored, as the vendor does
(the SDK itself sends `user_agent` there); what tuneyard accepts but does not do (tools,
a JSON response format, several choices) is refused with the field named.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tuneyard import errors
from tuneyard.api.dialects.openai.chat_wire import Number, Whole
from tuneyard.api.dialects.values import Name, validated

__all__ = ["MAX_STOP", "GenerationRequest", "Message", "Parameters", "parse"]

MAX_STOP = 4
"""Most stop strings."""


class Part(BaseModel):
    """A content part; only text is served."""

    model_config = ConfigDict(extra="ignore")

    text: str


class Message(BaseModel):
    """One message of `input.messages`."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str | list[Part]

    def text(self) -> str:
        """The message's text (parts joined by newlines)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class Input(BaseModel):
    """`input`: the conversation, or a bare prompt (added as the last user message)."""

    model_config = ConfigDict(extra="ignore")

    messages: list[Message] | None = None
    prompt: str | None = None


class Parameters(BaseModel):
    """`parameters`."""

    model_config = ConfigDict(extra="ignore")

    result_format: Literal["message", "text"] | None = None
    max_tokens: Whole | None = Field(None, ge=1)
    temperature: Number | None = Field(None, ge=0, lt=2)
    top_p: Number | None = Field(None, gt=0, le=1)
    top_k: Whole | None = Field(None, ge=0)
    seed: Whole | None = Field(None, ge=0)
    stop: str | list[str] | None = None
    repetition_penalty: Number | None = Field(None, gt=0)
    presence_penalty: Number | None = Field(None, ge=-2, le=2)
    incremental_output: StrictBool | None = None
    stream: StrictBool | None = None
    n: Whole | None = Field(None, ge=1, le=4)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None


class GenerationRequest(BaseModel):
    """The whole body."""

    model_config = ConfigDict(extra="ignore")

    model: Name
    input: Input
    parameters: Parameters = Field(default_factory=lambda: Parameters.model_validate({}))

    def conversation(self) -> list[dict[str, str]]:
        """`input.messages`, then `input.prompt` as a user message (as the SDK joins them)."""
        turns = [{"role": m.role, "content": m.text()} for m in self.input.messages or []]
        if self.input.prompt:
            turns.append({"role": "user", "content": self.input.prompt})
        return turns

    def stops(self) -> tuple[str, ...]:
        """`parameters.stop` as a tuple."""
        stop = self.parameters.stop
        if stop is None:
            return ()
        return (stop,) if isinstance(stop, str) else tuple(stop)


def parse(body: dict[str, Any]) -> GenerationRequest:
    """Validate the body and refuse what is not served; InvalidRequest naming the field."""
    request = validated(GenerationRequest, body, full_param=True)
    if not request.conversation():
        raise errors.InvalidRequest(
            'Either "prompt" or "messages" must exist and cannot both be none', param="input"
        )
    p = request.parameters
    if p.tools:
        raise errors.UnsupportedFeature("tools are not supported", param="parameters.tools")
    if p.response_format and p.response_format.get("type", "text") != "text":
        raise errors.UnsupportedFeature(
            "only the text response format is served", param="parameters.response_format"
        )
    if (p.n or 1) > 1:
        raise errors.UnsupportedFeature("n must be 1", param="parameters.n")
    stops = request.stops()
    if len(stops) > MAX_STOP or any(not s for s in stops):
        raise errors.InvalidRequest(
            f"stop takes at most {MAX_STOP} non-empty strings", param="parameters.stop"
        )
    return request
