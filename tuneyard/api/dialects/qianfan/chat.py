"""Qianfan chat ↔ the inference protocol: pure mapping, no I/O.

v1 (a custom service's endpoint): `check` refuses what is valid Qianfan but not served
here, `to_generate` makes the worker request, `Reply` folds the worker's events into the
vendor's `{result, is_end, usage, …}` object, or into one such chunk per piece of text.
v2 (`/v2/chat/completions`) is OpenAI's body plus Qianfan's extras: `v2_request` splits
them and maps `penalty_score`; the reply is OpenAI's (`openai.chat.Reply`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict

from tuneyard import errors
from tuneyard.api.dialects.openai import chat as openai_chat
from tuneyard.api.dialects.openai import chat_wire as openai_wire
from tuneyard.api.dialects.qianfan import chat_wire
from tuneyard.api.dialects.values import validated
from tuneyard.serving import protocol

__all__ = ["FINISH", "Reply", "V2Request", "check", "to_generate", "v2_generate", "v2_request"]

FINISH = {"stop": "normal", "length": "length"}
"""The worker's finish reason → Qianfan's `finish_reason`."""


def check(request: chat_wire.ChatRequest) -> None:
    """Refuse (naming the field) what tuneyard does not serve, and turns out of order."""
    for name in ("functions", "tools", "tool_choice"):
        if getattr(request, name):
            raise errors.UnsupportedFeature(f"{name} is not supported", param=name)
    if request.response_format == "json_object":
        raise errors.UnsupportedFeature(
            "response_format json_object is not supported; only text is served",
            param="response_format",
        )
    for i, message in enumerate(request.messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if message.role != expected:
            raise errors.InvalidRequest(
                f"messages[{i}].role must be {expected}: user and assistant alternate, "
                "starting with the user",
                param=f"messages.{i}.role",
            )
    if len(request.messages) % 2 == 0:
        raise errors.InvalidRequest(
            "the number of messages must be odd (the last one is the user's)", param="messages"
        )
    if any(not s for s in request.stop or ()):
        raise errors.InvalidRequest("stop strings must not be empty", param="stop")


def to_generate(
    request: chat_wire.ChatRequest, *, request_id: str, target: protocol.Target
) -> protocol.Generate:
    """The worker request for a checked v1 chat request (`system` leads the turns)."""
    defaults = protocol.Sampling()
    sampling = protocol.Sampling(
        max_tokens=request.max_output_tokens or defaults.max_tokens,
        temperature=_or(request.temperature, defaults.temperature),
        top_p=_or(request.top_p, defaults.top_p),
        top_k=request.top_k or 0,
        seed=request.seed,
        stop=tuple(request.stop or ()),
        frequency_penalty=_or(request.frequency_penalty, defaults.frequency_penalty),
        presence_penalty=_or(request.presence_penalty, defaults.presence_penalty),
        repetition_penalty=_or(request.penalty_score, defaults.repetition_penalty),
    )
    system = [{"role": "system", "content": request.system}] if request.system else []
    turns = [{"role": m.role, "content": m.content} for m in request.messages]
    return protocol.Generate(
        id=request_id, target=target, messages=tuple(system + turns), sampling=sampling
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


class Reply:
    """One v1 chat completion being answered: the worker's events in, Qianfan objects out."""

    def __init__(self, *, id: str, created: int) -> None:
        self.id = id
        self.created = created
        self.text: list[str] = []
        self.finish: str | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.sent = 0

    def add(self, event: protocol.Event) -> None:
        """Fold one event into the reply."""
        if isinstance(event, protocol.Accepted):
            self.prompt_tokens = event.prompt_tokens
        elif isinstance(event, protocol.Token):
            self.text.append(event.text)
            self.completion_tokens += 1
        elif isinstance(event, protocol.Finished):
            self.finish = event.reason
        elif isinstance(event, protocol.Done):
            self.prompt_tokens = event.prompt_tokens
            self.completion_tokens = event.completion_tokens

    def completion(self) -> dict[str, Any]:
        """The whole answer, `result` holding the text."""
        return self._object("".join(self.text), end=True)

    def chunks(self, event: protocol.Event) -> list[dict[str, Any]]:
        """The stream chunks an event makes: one per piece of text (`is_end` false), and a
        last one, empty, with `is_end` true, the finish reason and the totals."""
        self.add(event)
        if isinstance(event, protocol.Token):
            return [self._object(event.text, end=False)]
        if isinstance(event, protocol.Done):
            return [self._object("", end=True)]
        return []

    def _object(self, result: str, *, end: bool) -> dict[str, Any]:
        reason = self.finish or "stop"
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "sentence_id": self.sent,
            "is_end": end,
            "is_truncated": end and reason == "length",
            "result": result,
            "need_clear_history": False,
            "finish_reason": FINISH.get(reason, "normal") if end else "",
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        }
        self.sent += 1
        return body


@dataclasses.dataclass(frozen=True, slots=True)
class V2Request:
    """A `/v2/chat/completions` body: OpenAI's request, and Qianfan's `penalty_score`."""

    openai: openai_wire.ChatRequest
    repetition_penalty: float


class _Extras(BaseModel):
    model_config = ConfigDict(extra="forbid")

    penalty_score: openai_wire.Number | None = None
    web_search: dict[str, Any] | None = None
    user_id: str | None = None
    extra_parameters: dict[str, Any] | None = None
    disable_search: bool | None = None


def v2_request(body: dict[str, Any]) -> V2Request:
    """Split Qianfan's extras off an OpenAI-compatible body and check both halves."""
    extras = validated(
        _Extras, {k: v for k, v in body.items() if k in chat_wire.V2_EXTRAS}, full_param=True
    )
    if extras.web_search and extras.web_search.get("enable"):
        raise errors.UnsupportedFeature("web_search is not supported", param="web_search")
    penalty = 1.0 if extras.penalty_score is None else float(extras.penalty_score)
    if not 1.0 <= penalty <= 2.0:
        raise errors.InvalidRequest("penalty_score must be 1.0-2.0", param="penalty_score")
    request = openai_wire.parse({k: v for k, v in body.items() if k not in chat_wire.V2_EXTRAS})
    openai_chat.check(request)
    return V2Request(request, penalty)


def v2_generate(
    request: V2Request, *, request_id: str, target: protocol.Target
) -> protocol.Generate:
    """The worker request for a checked v2 request."""
    generate = openai_chat.to_generate(request.openai, request_id=request_id, target=target)
    sampling = dataclasses.replace(generate.sampling, repetition_penalty=request.repetition_penalty)
    return dataclasses.replace(generate, sampling=sampling)
