"""CLOVA chat completions on a tuned task ↔ the inference protocol: pure mapping, no I/O.

Two shapes of one reply (`Version`): v1 (`/testapp/v1/…`, `/serviceapp/v1/…`, `/v1/…`,
`/v2/…`) answers `inputLength`/`outputLength`/`stopReason`; v3 (`/v3/…`) answers
`usage` (promptTokens, completionTokens, totalTokens), `finishReason` and `created`.
`check` refuses what a tuned task cannot do, `to_generate` builds the worker request with
CLOVA's defaults, `Reply` folds the worker's events into the `result` object or into the
stream's `token` and `result` events (`frame` writes one).
"""

from __future__ import annotations

import random
from typing import Any, Literal

import orjson

from tuneyard import errors
from tuneyard.api.dialects.clova import chat_wire
from tuneyard.serving import protocol

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DONE",
    "Reply",
    "Version",
    "check",
    "frame",
    "last_user_text",
    "seed_of",
    "to_generate",
]

Version = Literal["v1", "v3"]
"""Which of CLOVA's chat completions APIs a route speaks."""

DEFAULT_MAX_TOKENS = 100
"""`maxTokens` when none is sent (CLOVA's guide: default 100)."""
_DEFAULT_TEMPERATURE = 0.5
_DEFAULT_TOP_P = 0.8
_DEFAULT_REPETITION = 1.1  # v3 repetitionPenalty's default; v1 repeatPenalty 5.0 maps to it
DONE = {"data": "[DONE]"}
"""The v1 stream's last event (`event:signal`), after `result`."""


def check(request: chat_wire.ChatRequest) -> None:
    """Refuse (400, naming the field) what CLOVA's tuned tasks do not do and combinations
    CLOVA refuses."""
    effort = (request.thinking or {}).get("effort", "none")
    if request.thinking is not None and effort != "none":
        raise errors.UnsupportedFeature(
            "thinking is not supported on a tuned task; send effort none or leave it out",
            param="thinking",
        )
    if request.tools:
        raise errors.UnsupportedFeature("tools are not supported on a tuned task", param="tools")
    if request.responseFormat is not None:
        raise errors.UnsupportedFeature(
            "responseFormat is not supported on a tuned task", param="responseFormat"
        )
    for i, message in enumerate(request.messages):
        if message.role == "tool":
            raise errors.UnsupportedFeature(
                "tool messages are not supported on a tuned task", param=f"messages.{i}.role"
            )
        parts = message.content if isinstance(message.content, list) else []
        if any(part.type != "text" for part in parts):
            raise errors.UnsupportedFeature(
                "only text content is supported on a tuned task", param=f"messages.{i}.content"
            )
    if request.maxTokens is not None and request.maxCompletionTokens is not None:
        raise errors.InvalidRequest(
            "maxTokens and maxCompletionTokens cannot be used together", param="maxTokens"
        )


def _text(message: chat_wire.Message) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text or "" for part in message.content)


def last_user_text(request: chat_wire.ChatRequest) -> str:
    """The last user message's text: what a classification task labels."""
    users = [_text(m) for m in request.messages if m.role == "user"]
    if not users:
        raise errors.InvalidRequest("a user message is required", param="messages")
    return users[-1]


def seed_of(request: chat_wire.ChatRequest) -> int:
    """The request's seed; 0 or none asks for a random one (CLOVA's rule), which the reply
    reports so that the answer can be reproduced."""
    return request.seed or random.randint(1, chat_wire.MAX_SEED)


def _repetition(request: chat_wire.ChatRequest, version: Version) -> float:
    """The multiplicative repetition penalty (transformers' `repetition_penalty`): v3's
    `repetitionPenalty` as it is; v1's `repeatPenalty` (0–10, default 5) as 1 + x/50, so
    that both defaults are 1.1."""
    v3, v1 = request.repetitionPenalty, request.repeatPenalty
    if v1 is not None and (version == "v1" or v3 is None):
        return 1.0 + v1 / 50.0
    return _DEFAULT_REPETITION if v3 is None else v3


def _stops(request: chat_wire.ChatRequest, version: Version) -> tuple[str, ...]:
    first, second = (
        (request.stopBefore, request.stop)
        if version == "v1"
        else (request.stop, request.stopBefore)
    )
    return tuple(first if first is not None else second or ())


def _max_tokens(request: chat_wire.ChatRequest, version: Version) -> int:
    wanted = request.maxCompletionTokens or request.maxTokens or DEFAULT_MAX_TOKENS
    if version == "v1" and wanted > chat_wire.MAX_TOKENS_V1:
        field = "maxTokens" if request.maxTokens else "maxCompletionTokens"
        raise errors.InvalidRequest(
            f"{field} must be at most {chat_wire.MAX_TOKENS_V1}", param=field
        )
    return wanted


def to_generate(
    request: chat_wire.ChatRequest,
    version: Version,
    *,
    request_id: str,
    target: protocol.Target,
    seed: int,
) -> protocol.Generate:
    """The worker request for a checked chat request, CLOVA's defaults filled in."""
    sampling = protocol.Sampling(
        max_tokens=_max_tokens(request, version),
        temperature=_DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        top_p=_DEFAULT_TOP_P if request.topP is None else request.topP,
        top_k=request.topK or 0,
        seed=seed,
        stop=_stops(request, version),
        repetition_penalty=_repetition(request, version),
    )
    messages = tuple({"role": m.role, "content": _text(m)} for m in request.messages)
    return protocol.Generate(id=request_id, target=target, messages=messages, sampling=sampling)


def frame(request_id: str, event: str, data: Any) -> str:
    """One server-sent event as CLOVA writes it: `id:`, `event:` and `data:` lines."""
    return f"id:{request_id}\nevent:{event}\ndata:{orjson.dumps(data).decode()}\n\n"


class Reply:
    """One chat completion being answered: the worker's events in, CLOVA objects out."""

    def __init__(
        self,
        request: chat_wire.ChatRequest,
        version: Version,
        *,
        seed: int,
        created_ms: int,
    ) -> None:
        self.version = version
        self.seed = seed
        self.created_ms = created_ms
        self.ai_filter = bool(request.includeAiFilters)
        self.stopped_by_string = bool(_stops(request, version))
        self.text: list[str] = []
        self.reason: str | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def add(self, event: protocol.Event) -> None:
        """Fold one event into the reply (choice 0: CLOVA answers one)."""
        if isinstance(event, protocol.Accepted):
            self.prompt_tokens = event.prompt_tokens
        elif isinstance(event, protocol.Token) and event.index == 0:
            self.text.append(event.text)
        elif isinstance(event, protocol.Finished) and event.index == 0:
            self.reason = event.reason
        elif isinstance(event, protocol.Done):
            self.prompt_tokens = event.prompt_tokens
            self.completion_tokens = event.completion_tokens

    def _reason(self) -> str:
        """v3 `finishReason` (stop | length); v1 `stopReason` (length | stop_before |
        end_token: the engine does not say which of a stop string and the end token ended
        a reply, so a request with stop strings reads stop_before)."""
        reason = self.reason or "stop"
        if self.version == "v3":
            return reason
        if reason == "length":
            return "length"
        return "stop_before" if self.stopped_by_string else "end_token"

    def result(self) -> dict[str, Any]:
        """The `result` object (also the stream's `result` event)."""
        message = {"role": "assistant", "content": "".join(self.text)}
        body: dict[str, Any]
        if self.version == "v1":
            body = {
                "message": message,
                "inputLength": self.prompt_tokens,
                "outputLength": self.completion_tokens,
                "stopReason": self._reason(),
                "seed": self.seed,
            }
        else:
            body = {
                "message": message,
                "finishReason": self._reason(),
                "created": self.created_ms,
                "seed": self.seed,
                "usage": {
                    "promptTokens": self.prompt_tokens,
                    "completionTokens": self.completion_tokens,
                    "totalTokens": self.prompt_tokens + self.completion_tokens,
                },
            }
        if self.ai_filter:
            body["aiFilter"] = []  # tuneyard runs no content filter: nothing to score
        return body

    def label(self, label: str) -> dict[str, Any]:
        """A classification task's answer: its label is the one token and the message
        content (no tokens are generated, so the token counts stay 0); the `token`
        event's data."""
        self.stopped_by_string = False
        data = self.token(protocol.Token(id="", index=0, text=label))
        self.add(protocol.Finished(id="", index=0, reason="stop", completion_tokens=0))
        assert data is not None
        return data

    def token(self, event: protocol.Event) -> dict[str, Any] | None:
        """The `token` event's data for a worker event (None for events that make none)."""
        self.add(event)
        if not isinstance(event, protocol.Token) or event.index != 0:
            return None
        message = {"role": "assistant", "content": event.text}
        if self.version == "v1":
            return {
                "message": message,
                "index": 0,
                "inputLength": self.prompt_tokens,
                "outputLength": 1,
                "stopReason": None,
            }
        return {
            "message": message,
            "finishReason": None,
            "created": self.created_ms,
            "seed": self.seed,
            "usage": None,
        }
