"""DashScope text generation ↔ the inference protocol: pure mapping, no I/O.

`to_generate` turns a checked request into a worker request; `Reply` folds the worker's
events into DashScope's body, `{output, usage, request_id}`, with `output` as
`result_format` asks: `message` gives `choices[{finish_reason, message}]`, `text` (the
default) gives `{text, finish_reason}`. Streaming, `events` gives one body per piece of
text: only the new text with `incremental_output`, else all the text so far; every body
but the last says `finish_reason: "null"` (the string, as the vendor sends it).
"""

from __future__ import annotations

from typing import Any

from tuneyard.api.dialects.dashscope.generation_wire import GenerationRequest
from tuneyard.serving import protocol

__all__ = ["DEFAULT_FORMAT", "Reply", "to_generate"]

DEFAULT_FORMAT = "text"
"""`result_format` when none is sent (the API reference's default)."""

_NO_TOP_K = 100
"""A `top_k` above this means no top-k cut (the vendor's rule), as do 0 and none."""


def to_generate(
    request: GenerationRequest, *, request_id: str, target: protocol.Target
) -> protocol.Generate:
    """The worker request for a checked generation request."""
    p = request.parameters
    defaults = protocol.Sampling()
    top_k = p.top_k or 0
    sampling = protocol.Sampling(
        max_tokens=p.max_tokens or defaults.max_tokens,
        temperature=defaults.temperature if p.temperature is None else float(p.temperature),
        top_p=defaults.top_p if p.top_p is None else float(p.top_p),
        top_k=0 if top_k > _NO_TOP_K else top_k,
        seed=p.seed,
        stop=request.stops(),
        presence_penalty=defaults.presence_penalty
        if p.presence_penalty is None
        else float(p.presence_penalty),
        repetition_penalty=defaults.repetition_penalty
        if p.repetition_penalty is None
        else float(p.repetition_penalty),
    )
    return protocol.Generate(
        id=request_id,
        target=target,
        messages=tuple(request.conversation()),
        sampling=sampling,
    )


class Reply:
    """One generation being answered: the worker's events in, DashScope bodies out."""

    def __init__(self, request: GenerationRequest, *, request_id: str) -> None:
        self.request_id = request_id
        self.format = request.parameters.result_format or DEFAULT_FORMAT
        self.incremental = bool(request.parameters.incremental_output)
        self.pieces: list[str] = []
        self.finish_reason = "stop"
        self.input_tokens = 0
        self.output_tokens = 0

    def add(self, event: protocol.Event) -> None:
        """Fold one event into the reply."""
        if isinstance(event, protocol.Accepted):
            self.input_tokens = event.prompt_tokens
        elif isinstance(event, protocol.Token) and event.index == 0:
            self.pieces.append(event.text)
            self.output_tokens += 1
        elif isinstance(event, protocol.Finished) and event.index == 0:
            self.finish_reason = event.reason
            self.output_tokens = event.completion_tokens
        elif isinstance(event, protocol.Done):
            self.input_tokens = event.prompt_tokens
            self.output_tokens = event.completion_tokens

    def body(self) -> dict[str, Any]:
        """The whole reply (not streaming)."""
        return self._body("".join(self.pieces), self.finish_reason)

    def events(self, event: protocol.Event) -> list[dict[str, Any]]:
        """The bodies an event makes while streaming: one per piece of text, and the last
        (with the finish reason and the final usage) when the reply is done."""
        self.add(event)
        if isinstance(event, protocol.Token) and event.index == 0:
            text = event.text if self.incremental else "".join(self.pieces)
            return [self._body(text, "null")]
        if isinstance(event, protocol.Done):
            text = "" if self.incremental else "".join(self.pieces)
            return [self._body(text, self.finish_reason)]
        return []

    def _body(self, text: str, finish_reason: str) -> dict[str, Any]:
        if self.format == "message":
            output: dict[str, Any] = {
                "choices": [
                    {
                        "finish_reason": finish_reason,
                        "message": {"role": "assistant", "content": text},
                    }
                ]
            }
        else:
            output = {"text": text, "finish_reason": finish_reason}
        return {
            "output": output,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
            },
            "request_id": self.request_id,
        }
