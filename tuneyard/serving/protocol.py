"""The inference worker's protocol: JSON lines, requests on its stdin, events on its stdout.

The API server (torch-free) starts `python -m tuneyard.serving` and talks to it only
through these records; the worker (torch) owns models, adapters, batching and sampling.

Server → worker (`Request` kinds, key `op`):
  generate  one chat completion request: the model to use (`Target`), the messages (the
            worker applies the chat template saved with the model), `Sampling` and `n`.
  classify  label texts with a classification model.
  cancel    drop a request (client gone); its slot frees at the next decoding step.
  shutdown  finish nothing more and exit 0.

Worker → server (`Event` kinds, key `event`), each naming the request `id`:
  accepted  the prompt fitted; `prompt_tokens` counted.
  token     one piece of text of choice `index` (already detokenised, stop strings held
            back until they can no longer match), with its logprob / top logprobs if asked.
  finished  choice `index` ended: `reason` "stop" (end token or a stop string) or "length".
  done      every choice ended: token totals for `usage`.
  labels    the answer to a classify request.
  error     the request failed: `code` is one of ERROR_CODES, `message` says why.

Pure Python: no torch, no web framework.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

__all__ = [
    "ERROR_CODES",
    "Accepted",
    "Cancel",
    "Classify",
    "Done",
    "Error",
    "Event",
    "Finished",
    "Generate",
    "Labels",
    "Request",
    "Sampling",
    "Shutdown",
    "Target",
    "Token",
    "decode_event",
    "decode_request",
    "encode",
]

ERROR_CODES = (
    "context_length_exceeded",  # prompt (+ max_tokens) past the model's context
    "model_not_found",  # the folder is gone or holds no model
    "invalid_request",  # a value the worker cannot honour
    "internal",  # anything else; the message says what
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What to run: a base model folder, and optionally an adapter folder (PEFT layout) on it.

    A full fine-tuned output is its own `base` with no adapter. `kind` is "causal" or
    "classifier". The tokenizer and chat template are read from `adapter` when it has them
    (saved with every adapter and checkpoint), else from `base`.
    """

    base: str
    adapter: str | None = None
    kind: Literal["causal", "classifier"] = "causal"
    builtin: str | None = None
    """The built-in base model whose folder `base` is ("tiny-chat"): the worker writes it
    out there first when it is absent (a fresh data dir where nothing has trained yet)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Sampling:
    """Decoding settings of one request; temperature 0 is greedy (argmax)."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    seed: int | None = None  # same seed, same request → same tokens
    stop: tuple[str, ...] = ()
    frequency_penalty: float = 0.0  # OpenAI's: minus penalty × count of the token so far
    presence_penalty: float = 0.0  # OpenAI's: minus penalty once a token appeared
    repetition_penalty: float = 1.0  # transformers' multiplicative one; 1.0 is off
    logprobs: bool = False
    top_logprobs: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Generate:
    """A chat completion request."""

    id: str
    target: Target
    messages: tuple[dict[str, str], ...]
    sampling: Sampling = Sampling()
    n: int = 1
    op: Literal["generate"] = "generate"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Classify:
    """Label each of `inputs` with a classification model."""

    id: str
    target: Target
    inputs: tuple[str, ...]
    op: Literal["classify"] = "classify"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """Stop request `id` (its client went away)."""

    id: str
    op: Literal["cancel"] = "cancel"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown:
    """Exit cleanly."""

    op: Literal["shutdown"] = "shutdown"


Request = Generate | Classify | Cancel | Shutdown


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """The request is in the running batch."""

    id: str
    prompt_tokens: int
    event: Literal["accepted"] = "accepted"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """Text produced by choice `index`; logprob fields only when the request asked."""

    id: str
    index: int
    text: str
    logprob: float | None = None
    top_logprobs: tuple[tuple[str, float], ...] | None = None
    event: Literal["token"] = "token"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """Choice `index` ended."""

    id: str
    index: int
    reason: Literal["stop", "length"]
    completion_tokens: int
    event: Literal["finished"] = "finished"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """All choices ended."""

    id: str
    prompt_tokens: int
    completion_tokens: int
    event: Literal["done"] = "done"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Labels:
    """Per input: the most likely label and every label's probability."""

    id: str
    results: tuple[tuple[str, dict[str, float]], ...]
    event: Literal["labels"] = "labels"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """The request failed; `code` is one of ERROR_CODES."""

    id: str
    code: str
    message: str
    event: Literal["error"] = "error"


Event = Accepted | Token | Finished | Done | Labels | Error

_REQUESTS: dict[str, type[Any]] = {
    "generate": Generate,
    "classify": Classify,
    "cancel": Cancel,
    "shutdown": Shutdown,
}
_EVENTS: dict[str, type[Any]] = {
    "accepted": Accepted,
    "token": Token,
    "finished": Finished,
    "done": Done,
    "labels": Labels,
    "error": Error,
}


def encode(record: Request | Event) -> str:
    """One JSON line (no newline) for a request or an event."""
    return json.dumps(dataclasses.asdict(record), ensure_ascii=False, separators=(",", ":"))


def decode_request(line: str) -> Request:
    """The request on a line; ValueError for anything else."""
    data = _object(line)
    cls = _REQUESTS.get(str(data.get("op")))
    if cls is None:
        raise ValueError(f"unknown op {data.get('op')!r}")
    if cls is Generate:
        data["target"] = Target(**data["target"])
        sampling = dict(data.get("sampling") or {})
        sampling["stop"] = tuple(sampling.get("stop") or ())
        data["sampling"] = Sampling(**sampling)
        data["messages"] = tuple(data["messages"])
    elif cls is Classify:
        data["target"] = Target(**data["target"])
        data["inputs"] = tuple(data["inputs"])
    try:
        return cls(**data)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def decode_event(line: str) -> Event:
    """The event on a line; ValueError for anything else."""
    data = _object(line)
    cls = _EVENTS.get(str(data.get("event")))
    if cls is None:
        raise ValueError(f"unknown event {data.get('event')!r}")
    if cls is Token and data.get("top_logprobs") is not None:
        data["top_logprobs"] = tuple((str(t), float(p)) for t, p in data["top_logprobs"])
    if cls is Labels:
        data["results"] = tuple((str(label), dict(probs)) for label, probs in data["results"])
    try:
        return cls(**data)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def _object(line: str) -> dict[str, Any]:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data
