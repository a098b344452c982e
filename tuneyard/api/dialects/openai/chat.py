"""OpenAI chat completions ↔ the inference protocol: pure mapping, no I/O.

`check` refuses what the wire model allows but tuneyard does not serve; `to_generate`
turns a request into a worker request; `Reply` folds the worker's events into a
ChatCompletion, or into ChatCompletionChunk objects as they arrive (`chunks`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tuneyard import errors
from tuneyard.api.dialects.openai.chat_wire import MAX_STOP, ChatRequest, Message
from tuneyard.serving import protocol

__all__ = ["Reply", "check", "completion_id", "to_generate"]

_ROLES = {"developer": "system"}
"""Roles the chat templates know by another name."""


def completion_id(request_id: str) -> str:
    """`chatcmpl-` and the request's id."""
    return f"chatcmpl-{request_id}"


def check(request: ChatRequest) -> None:
    """Refuse (400, naming the field) what is valid OpenAI but not served here, and
    combinations OpenAI refuses."""
    if request.response_format is not None and request.response_format.type != "text":
        raise errors.UnsupportedFeature(
            f"response_format {request.response_format.type} is not supported; only text is served",
            param="response_format",
        )
    if request.tools:
        raise errors.UnsupportedFeature("tools are not supported", param="tools")
    if request.logit_bias:
        raise errors.UnsupportedFeature("logit_bias is not supported", param="logit_bias")
    if request.modalities is not None and request.modalities != ["text"]:
        raise errors.UnsupportedFeature("only the text modality is served", param="modalities")
    if request.stream_options is not None and not request.stream:
        raise errors.InvalidRequest(
            "stream_options is only allowed when stream is true", param="stream_options"
        )
    if request.top_logprobs and not request.logprobs:
        raise errors.InvalidRequest(
            "logprobs must be true when top_logprobs is set", param="top_logprobs"
        )
    stops = _stops(request)
    if len(stops) > MAX_STOP:
        raise errors.InvalidRequest(f"stop takes at most {MAX_STOP} strings", param="stop")
    if any(not s for s in stops):
        raise errors.InvalidRequest("stop strings must not be empty", param="stop")


def _stops(request: ChatRequest) -> tuple[str, ...]:
    if request.stop is None:
        return ()
    return (request.stop,) if isinstance(request.stop, str) else tuple(request.stop)


def _text(message: Message) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content)


def to_generate(
    request: ChatRequest, *, request_id: str, target: protocol.Target
) -> protocol.Generate:
    """The worker request for a checked chat request."""
    defaults = protocol.Sampling()
    sampling = protocol.Sampling(
        max_tokens=request.max_completion_tokens or request.max_tokens or defaults.max_tokens,
        temperature=_or(request.temperature, defaults.temperature),
        top_p=_or(request.top_p, defaults.top_p),
        seed=request.seed,
        stop=_stops(request),
        frequency_penalty=_or(request.frequency_penalty, defaults.frequency_penalty),
        presence_penalty=_or(request.presence_penalty, defaults.presence_penalty),
        logprobs=bool(request.logprobs),
        top_logprobs=(request.top_logprobs or 0) if request.logprobs else 0,
    )
    messages = tuple(
        {"role": _ROLES.get(m.role, m.role), "content": _text(m)} for m in request.messages
    )
    return protocol.Generate(
        id=request_id, target=target, messages=messages, sampling=sampling, n=request.n or 1
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _logprob(token: protocol.Token) -> dict[str, Any]:
    """One `logprobs.content` entry: the token, its logprob, its UTF-8 bytes, the
    alternatives."""
    return {
        "token": token.text,
        "logprob": token.logprob,
        "bytes": list(token.text.encode("utf-8")),
        "top_logprobs": [
            {"token": text, "logprob": value, "bytes": list(text.encode("utf-8"))}
            for text, value in token.top_logprobs or ()
        ],
    }


@dataclasses.dataclass(slots=True)
class _Choice:
    text: list[str] = dataclasses.field(default_factory=list)
    logprobs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    finish_reason: str | None = None


class Reply:
    """One chat completion being answered: the worker's events in, OpenAI objects out."""

    def __init__(self, request: ChatRequest, *, id: str, created: int) -> None:
        self.id = id
        self.created = created
        self.model = request.model
        self.logprobs = bool(request.logprobs)
        self.include_usage = bool(request.stream_options and request.stream_options.include_usage)
        self.choices = [_Choice() for _ in range(request.n or 1)]
        self.prompt_tokens = 0
        self.completion_tokens = 0

    # -- non-streaming -----------------------------------------------------------------
    def add(self, event: protocol.Event) -> None:
        """Fold one event into the reply."""
        if isinstance(event, protocol.Accepted):
            self.prompt_tokens = event.prompt_tokens
        elif isinstance(event, protocol.Token) and 0 <= event.index < len(self.choices):
            self.choices[event.index].text.append(event.text)
            if self.logprobs:
                self.choices[event.index].logprobs.append(_logprob(event))
        elif isinstance(event, protocol.Finished) and 0 <= event.index < len(self.choices):
            self.choices[event.index].finish_reason = event.reason
        elif isinstance(event, protocol.Done):
            self.prompt_tokens = event.prompt_tokens
            self.completion_tokens = event.completion_tokens

    def completion(self) -> dict[str, Any]:
        """The ChatCompletion object."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": i,
                    "message": {
                        "role": "assistant",
                        "content": "".join(choice.text),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": (
                        {"content": choice.logprobs, "refusal": None} if self.logprobs else None
                    ),
                    "finish_reason": choice.finish_reason or "stop",
                }
                for i, choice in enumerate(self.choices)
            ],
            "usage": self._usage(),
            "system_fingerprint": None,
        }

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    # -- streaming ---------------------------------------------------------------------
    def chunks(self, event: protocol.Event) -> list[dict[str, Any]]:
        """The ChatCompletionChunk objects an event makes (none, one, or one a choice):
        each choice opens with its role, then its text, then its finish reason; with
        `stream_options.include_usage` a last chunk with no choices carries `usage`."""
        self.add(event)
        if isinstance(event, protocol.Accepted):
            return [
                self._chunk(i, {"role": "assistant", "content": ""})
                for i in range(len(self.choices))
            ]
        if isinstance(event, protocol.Token):
            logprobs = {"content": [_logprob(event)], "refusal": None} if self.logprobs else None
            return [self._chunk(event.index, {"content": event.text}, logprobs=logprobs)]
        if isinstance(event, protocol.Finished):
            return [self._chunk(event.index, {}, finish_reason=event.reason)]
        if isinstance(event, protocol.Done) and self.include_usage:
            return [{**self._envelope([]), "usage": self._usage()}]
        return []

    def _chunk(
        self,
        index: int,
        delta: dict[str, Any],
        *,
        logprobs: dict[str, Any] | None = None,
        finish_reason: str | None = None,
    ) -> dict[str, Any]:
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": logprobs,
            "finish_reason": finish_reason,
        }
        return self._envelope([choice])

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk
