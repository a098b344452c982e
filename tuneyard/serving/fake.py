"""The in-process fake of the `Inference` port, and the script it plays.

The fake "model" repeats the last user message, one word a token (`(i)` after each word
for choice i > 0), so replies are known in advance; it honours max_tokens (finish
`length`), stop strings (finish `stop`), logprobs, n and a context of `CONTEXT` tokens
(prompt tokens: 4 a message plus its words). Words in the last user message steer it:
`!slow` spaces its tokens `SLOW_SECONDS` apart, `!hang` never finishes (until cancelled),
`!fail` fails with an internal error and `!crash` loses the worker.

`tests.support.scripted_inference` plays the same script in a real child process, so one
set of contract tests runs on this fake and on `WorkerClient`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Literal

from tuneyard import errors
from tuneyard.serving import client, protocol

__all__ = [
    "CONTEXT",
    "SLOW_SECONDS",
    "FakeInference",
    "behaviour",
    "labels",
    "prompt_tokens",
    "script",
]

CONTEXT = 1024
"""The fake model's context, in tokens."""
SLOW_SECONDS = 0.05
"""The pause before each token of a `!slow` request."""


def _last_user(request: protocol.Generate) -> str:
    users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
    return users[-1] if users else ""


def behaviour(request: protocol.Generate) -> str:
    """How the fake treats a request: "crash", "hang", "slow" or "normal"."""
    words = set(_last_user(request).split())
    for kind in ("crash", "hang", "slow"):
        if f"!{kind}" in words:
            return kind
    return "normal"


def prompt_tokens(request: protocol.Generate) -> int:
    """The fake's token count of a prompt: 4 a message plus its words."""
    return sum(4 + len(m.get("content", "").split()) for m in request.messages)


def script(request: protocol.Generate) -> list[protocol.Event]:
    """Every event the fake worker sends for a request, in order (a crash or a hang
    aside: see `behaviour`)."""
    rid = request.id
    prompt = prompt_tokens(request)
    sampling = request.sampling
    if prompt + sampling.max_tokens > CONTEXT:
        return [
            protocol.Error(
                id=rid,
                code="context_length_exceeded",
                message=f"This model's maximum context length is {CONTEXT} tokens. However, "
                f"you requested {prompt + sampling.max_tokens} tokens ({prompt} in the "
                f"messages, {sampling.max_tokens} in the completion).",
            )
        ]
    if "!fail" in _last_user(request).split():
        return [protocol.Error(id=rid, code="internal", message="scripted failure")]
    events: list[protocol.Event] = [protocol.Accepted(id=rid, prompt_tokens=prompt)]
    total = 0
    for index in range(request.n):
        words = _last_user(request).split() or ["..."]
        if index:
            words = [f"{w}({index})" for w in words]
        text, count = "", 0
        reason: Literal["stop", "length"] = "stop"  # the whole reply: then the end token
        for position, word in enumerate(words):
            if count == sampling.max_tokens:
                reason = "length"
                break
            joined = text + (word if position == 0 else " " + word)
            hits = [joined.find(s) for s in sampling.stop if s and s in joined]
            piece = joined[len(text) : min(hits)] if hits else joined[len(text) :]
            if piece:
                count += 1
                text += piece
                events.append(_token(rid, index, piece, sampling))
            if hits:
                break
        events.append(
            protocol.Finished(id=rid, index=index, reason=reason, completion_tokens=count)
        )
        total += count
    events.append(protocol.Done(id=rid, prompt_tokens=prompt, completion_tokens=total))
    return events


def _token(rid: str, index: int, piece: str, sampling: protocol.Sampling) -> protocol.Token:
    if not sampling.logprobs:
        return protocol.Token(id=rid, index=index, text=piece)
    alternatives = [(piece, -0.5), (" the", -1.5), (" a", -2.5), (" of", -3.5), (" to", -4.5)]
    return protocol.Token(
        id=rid,
        index=index,
        text=piece,
        logprob=-0.5,
        top_logprobs=tuple(alternatives[: sampling.top_logprobs]),
    )


def labels(request: protocol.Classify) -> protocol.Labels:
    """The fake classifier: "positive" for a text with "good" in it, else "negative"."""
    results = []
    for text in request.inputs:
        good = "good" in text.lower()
        probabilities = {"positive": 0.9 if good else 0.1, "negative": 0.1 if good else 0.9}
        results.append(("positive" if good else "negative", probabilities))
    return protocol.Labels(id=request.id, results=tuple(results))


class FakeInference:
    """The `Inference` port in process: plays `script`, bounded like the real client."""

    def __init__(self, *, max_queued: int = 64) -> None:
        self.max_queued = max_queued
        self.requests: list[protocol.Request] = []
        """Every request received, cancels included, in order."""
        self._outstanding = 0
        self._hanging: set[asyncio.Future[None]] = set()
        self._crashes = 0
        self.closed = False

    @property
    def outstanding(self) -> int:
        """Requests received and not yet answered in full, cancelled or failed."""
        return self._outstanding

    async def generate(self, request: protocol.Generate) -> AsyncGenerator[protocol.Event, None]:
        """See `Inference.generate`."""
        self._admit(request)
        crashes = self._crashes
        ended = False
        try:
            kind = behaviour(request)
            if kind == "crash":  # the worker is lost, and every request it held
                self._crashes += 1
                for waiter in self._hanging:
                    waiter.cancel()
                crashes = -1
            for event in script(request):
                if isinstance(event, protocol.Error):
                    ended = True
                    raise client.error_of(event)
                if kind == "slow" and isinstance(event, protocol.Token):
                    await asyncio.sleep(SLOW_SECONDS)
                if kind == "hang" and not isinstance(event, protocol.Accepted):
                    await self._hang(crashes)  # until the consumer goes away, or a crash
                if crashes != self._crashes:
                    ended = True
                    raise errors.InferenceUnavailable(
                        "The inference engine stopped (exit status -9); retry the request."
                    )
                ended = isinstance(event, protocol.Done)
                yield event
        finally:
            self._outstanding -= 1
            if not ended:
                self.requests.append(protocol.Cancel(id=request.id))

    async def classify(self, request: protocol.Classify) -> protocol.Labels:
        """See `Inference.classify`."""
        self._admit(request)
        try:
            return labels(request)
        finally:
            self._outstanding -= 1

    async def aclose(self) -> None:
        """Nothing to stop."""
        self.closed = True

    async def _hang(self, crashes: int) -> None:
        """Wait until cancelled, or until a crash (after which the caller raises)."""
        if crashes != self._crashes:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._hanging.add(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if crashes == self._crashes:  # the consumer's own cancellation
                raise
        finally:
            self._hanging.discard(waiter)

    def _admit(self, request: protocol.Generate | protocol.Classify) -> None:
        if self._outstanding >= self.max_queued:
            raise errors.Overloaded(
                f"{self.max_queued} requests are already waiting for the inference engine; "
                "retry shortly.",
                retry_after=1,
            )
        self._outstanding += 1
        self.requests.append(request)
