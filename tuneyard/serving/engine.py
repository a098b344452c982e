"""Continuous batching: requests join and leave the running batch between decoding steps.

`Engine.submit` checks a chat request (its model, its sampling values, its prompt against
the model's context) and queues it; `Engine.step` runs one decoding step and returns the
protocol events it produced. A step

1. drops cancelled requests, freeing their caches;
2. admits waiting requests while the batch has room (`max_running` sequences) and their
   adapter can be loaded (see `tuneyard.serving.models`);
3. gives each base model one forward over all its running sequences: one new token for
   every decoding sequence and, within `max_step_tokens`, the prompt (or the next chunk of
   it) of every prefilling one — prefill is batched with decoding;
4. samples the next token of every sequence whose last token ran (`tuneyard.serving.
   sampling`), detokenises it incrementally, holds back what might be a stop string, and
   ends a choice at the end token or a stop string ("stop") or at `max_tokens` ("length").

A request with `n` > 1 prefills its prompt once: when the prompt is in the cache, each
other choice gets a copy of it and draws its own first token from the same logits.
`completion_tokens` counts every sampled token, the end token included. A `token` event
carries one piece of released text; when several tokens make one piece (a character
spread over bytes, text held back for a stop string), its logprob is their sum and its
top logprobs are the first one's. A cancelled request gets no event any more: its client
is gone.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from tuneyard.serving import batch, classify, detok, models, protocol, sampling
from tuneyard.serving.refusals import Refused

__all__ = ["Engine"]

_MESSAGE_LIMIT = 1000
_FIRST_CAPACITY = 256


@dataclasses.dataclass(eq=False)
class _Choice:
    request: _Request
    index: int
    sampler: sampling.RowSampler
    detokenizer: detok.Detokenizer
    stops: detok.StopMatcher
    last: int = -1
    cache: Any = None
    generated: int = 0
    done: bool = False
    pending_logprob: float = 0.0
    pending_top: tuple[tuple[int, float], ...] | None = None


@dataclasses.dataclass(eq=False)
class _Request:
    spec: protocol.Generate
    model: models.Model
    tokenizer: Any
    eos: int | None
    prompt: list[int]
    choices: list[_Choice] = dataclasses.field(default_factory=list)
    adapter: Any = None
    forked: bool = False
    cancelled: bool = False

    @property
    def live(self) -> list[_Choice]:
        return [c for c in self.choices if not c.done]


_Work = tuple[batch.Row, _Request, _Choice | None]
"""A row of a step, its request, and its choice (None for a prompt chunk)."""


class Engine:
    """The inference engine: base models with adapters, continuous batching, sampling."""

    def __init__(
        self,
        *,
        max_loaded_adapters: int = 8,
        max_loaded_models: int = 2,
        max_running: int = 64,
        max_step_tokens: int = 1024,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.store = models.Store(
            max_adapters=max_loaded_adapters,
            max_models=max_loaded_models,
            device=device,
            dtype=dtype,
        )
        self.classifiers = classify.Classifiers(device=device)
        self.max_running = max(1, max_running)
        self.max_step_tokens = max(1, max_step_tokens)
        self.trace: Callable[[str, int, int], None] | None = None
        """Called with (request id, choice index, token id) for every token sampled."""
        self._waiting: collections.deque[_Request] = collections.deque()
        self._running: list[_Request] = []
        self._ids: dict[str, _Request] = {}

    @property
    def busy(self) -> bool:
        """Whether any request is waiting or running (`step` has work)."""
        return bool(self._waiting or self._running)

    @property
    def requests(self) -> list[str]:
        """The ids of the requests waiting or running."""
        return list(self._ids)

    @property
    def running(self) -> int:
        """Sequences in the running batch."""
        return sum(len(r.live) for r in self._running)

    def submit(self, request: protocol.Generate) -> list[protocol.Event]:
        """Queue a chat request: `accepted`, or `error` when it cannot run."""
        try:
            state = self._prepare(request)
        except Refused as exc:
            return [protocol.Error(id=request.id, code=exc.code, message=exc.message)]
        except Exception as exc:
            return [protocol.Error(id=request.id, code="internal", message=_one_line(exc))]
        self._waiting.append(state)
        self._ids[request.id] = state
        return [protocol.Accepted(id=request.id, prompt_tokens=len(state.prompt))]

    def classify(self, request: protocol.Classify) -> list[protocol.Event]:
        """Answer a classify request at once: `labels`, or `error`."""
        try:
            models.write_builtin(request.target)
            results = self.classifiers.run(request.target, request.inputs)
        except Refused as exc:
            return [protocol.Error(id=request.id, code=exc.code, message=exc.message)]
        except Exception as exc:
            return [protocol.Error(id=request.id, code="internal", message=_one_line(exc))]
        return [protocol.Labels(id=request.id, results=results)]

    def cancel(self, request_id: str) -> None:
        """Drop the request at the next step (nothing is emitted for it any more)."""
        state = self._ids.get(request_id)
        if state is not None:
            state.cancelled = True

    def step(self) -> list[protocol.Event]:
        """One decoding step over the running batch; the events it produced."""
        events: list[protocol.Event] = []
        self._drop_cancelled()
        self._admit(events)
        for model, work in self._schedule().items():
            try:
                logits = model.runner.forward([row for row, _, _ in work])
                events += self._advance(work, logits)
            except Exception as exc:
                message = _one_line(exc)
                for state in {id(s): s for _, s, _ in work}.values():
                    events.append(
                        protocol.Error(id=state.spec.id, code="internal", message=message)
                    )
                    self._finish_request(state)
        return events

    # -- submission --------------------------------------------------------------------

    def _prepare(self, request: protocol.Generate) -> _Request:
        if request.id in self._ids:
            raise Refused("invalid_request", f"request {request.id!r} is already running")
        problem = sampling.problem(request.sampling, request.n)
        if problem is not None:
            raise Refused("invalid_request", problem)
        target = request.target
        if target.kind != "causal":
            raise Refused("invalid_request", "a classification model cannot chat; classify")
        models.write_builtin(target)
        if target.adapter:
            models.adapter_folder(target.adapter)
        model = self.store.model(target.base)
        tokenizer = self.store.tokenizer(target.base, target.adapter)
        prompt = _render(tokenizer, request.messages)
        limit, asked = model.max_positions, len(prompt) + request.sampling.max_tokens
        if limit is not None and asked > limit:
            raise Refused(
                "context_length_exceeded",
                f"This model's maximum context length is {limit} tokens. However, you "
                f"requested {asked} tokens ({len(prompt)} in the messages, "
                f"{request.sampling.max_tokens} in the completion). Please reduce the length "
                "of the messages or completion.",
            )
        model.users += 1
        state = _Request(request, model, tokenizer, tokenizer.eos_token_id, prompt)
        vocab = model.runner.vocab_size
        state.choices = [
            _Choice(
                state,
                index,
                sampling.RowSampler(request.sampling, prompt, vocab, index=index),
                detok.Detokenizer(tokenizer, prompt),
                detok.StopMatcher(request.sampling.stop),
            )
            for index in range(request.n)
        ]
        return state

    # -- scheduling --------------------------------------------------------------------

    def _drop_cancelled(self) -> None:
        for state in [s for s in self._waiting if s.cancelled]:
            self._waiting.remove(state)
            self._finish_request(state)
        for state in [s for s in self._running if s.cancelled]:
            self._finish_request(state)

    def _admit(self, events: list[protocol.Event]) -> None:
        live = self.running
        for state in list(self._waiting):
            need = state.spec.n
            if self._running and live + need > self.max_running:
                break
            if state.spec.target.adapter:
                try:
                    state.adapter = self.store.acquire(state.model, state.spec.target.adapter)
                except Exception as exc:
                    code, message = (
                        (exc.code, exc.message)
                        if isinstance(exc, Refused)
                        else ("internal", _one_line(exc))
                    )
                    self._waiting.remove(state)
                    events.append(protocol.Error(id=state.spec.id, code=code, message=message))
                    self._finish_request(state)
                    continue
                if state.adapter is None:
                    continue  # every adapter slot is in use: wait for one to free
            self._waiting.remove(state)
            self._running.append(state)
            room = len(state.prompt) + min(state.spec.sampling.max_tokens, _FIRST_CAPACITY)
            state.choices[0].cache = state.model.runner.new_cache(room)
            live += need

    def _schedule(self) -> dict[models.Model, list[_Work]]:
        """This step's rows per base model: decoding rows first, then prompt chunks."""
        work: dict[models.Model, list[_Work]] = {}
        budget = self.max_step_tokens
        for state in self._running:
            if state.forked:
                for choice in state.live:
                    row = batch.Row([choice.last], choice.cache, state.adapter)
                    work.setdefault(state.model, []).append((row, state, choice))
                    budget -= 1
        for state in self._running:
            if state.forked:
                continue
            cache = state.choices[0].cache
            remaining = len(state.prompt) - cache.length
            take = min(remaining, max(budget, 0))
            if take <= 0:
                if work:
                    continue
                take = min(remaining, self.max_step_tokens)
            tokens = state.prompt[cache.length : cache.length + take]
            row = batch.Row(tokens, cache, state.adapter, logits=take == remaining)
            work.setdefault(state.model, []).append((row, state, None))
            budget -= take
        return work

    # -- after the forward ---------------------------------------------------------------

    def _advance(self, work: Sequence[_Work], logits: torch.Tensor) -> list[protocol.Event]:
        targets: list[tuple[_Choice, int]] = []
        at = 0
        for row, state, choice in work:
            if not row.logits:
                continue
            if choice is not None:
                targets.append((choice, at))
            else:
                state.forked = True
                lead = state.choices[0]
                for sibling in state.choices[1:]:
                    sibling.cache = lead.cache.fork()
                targets += [(choice, at) for choice in state.choices]
            at += 1
        picks = sampling.sample([c.sampler for c, _ in targets], logits[[i for _, i in targets]])
        events: list[protocol.Event] = []
        for (choice, _), pick in zip(targets, picks, strict=True):
            events += self._take(choice, pick)
        for state in {id(s): s for _, s, _ in work}.values():
            if state.forked and not state.live and not state.cancelled:
                events.append(
                    protocol.Done(
                        id=state.spec.id,
                        prompt_tokens=len(state.prompt),
                        completion_tokens=sum(c.generated for c in state.choices),
                    )
                )
                self._finish_request(state)
        return events

    def _take(self, choice: _Choice, pick: sampling.Pick) -> list[protocol.Event]:
        """Add the sampled token to `choice`: the text it releases, and its end if it ends."""
        state = choice.request
        choice.last = pick.token
        choice.generated += 1
        choice.sampler.observe(pick.token)
        if self.trace is not None:
            self.trace(state.spec.id, choice.index, pick.token)
        if pick.token == state.eos:
            return self._end(choice, "stop", flush=True)
        if pick.logprob is not None:
            choice.pending_logprob += pick.logprob
            if choice.pending_top is None:
                choice.pending_top = pick.top
        piece = choice.detokenizer.add(pick.token)
        text, stopped = choice.stops.feed(piece) if piece else ("", False)
        events: list[protocol.Event] = [self._token(choice, text)] if text else []
        if stopped:
            events += self._end(choice, "stop", flush=False)
        elif choice.generated >= state.spec.sampling.max_tokens:
            events += self._end(choice, "length", flush=True)
        return events

    def _token(self, choice: _Choice, text: str) -> protocol.Token:
        state = choice.request
        if not state.spec.sampling.logprobs:
            return protocol.Token(id=state.spec.id, index=choice.index, text=text)
        top = tuple(
            (str(state.tokenizer.decode([token])), value)
            for token, value in choice.pending_top or ()
        )
        event = protocol.Token(
            id=state.spec.id,
            index=choice.index,
            text=text,
            logprob=choice.pending_logprob,
            top_logprobs=top,
        )
        choice.pending_logprob, choice.pending_top = 0.0, None
        return event

    def _end(self, choice: _Choice, reason: str, *, flush: bool) -> list[protocol.Event]:
        events: list[protocol.Event] = []
        held = choice.stops.flush() if flush else ""
        if held:
            events.append(self._token(choice, held))
        choice.done = True
        if choice.cache is not None:
            choice.cache.free()
            choice.cache = None
        events.append(
            protocol.Finished(
                id=choice.request.spec.id,
                index=choice.index,
                reason="stop" if reason == "stop" else "length",
                completion_tokens=choice.generated,
            )
        )
        return events

    def _finish_request(self, state: _Request) -> None:
        """Forget a request (done, failed or cancelled) and free what it held."""
        if state in self._running:
            self._running.remove(state)
        if self._ids.get(state.spec.id) is state:
            del self._ids[state.spec.id]
        for choice in state.choices:
            if choice.cache is not None:
                choice.cache.free()
                choice.cache = None
        if state.adapter is not None and state.spec.target.adapter:
            self.store.release(state.model, state.spec.target.adapter)
            state.adapter = None
        self.store.done_with(state.model)


def _render(tokenizer: Any, messages: Sequence[dict[str, str]]) -> list[int]:
    """The prompt ids: the chat template with the generation prompt, as training renders."""
    try:
        text = tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
        )
        ids = list(tokenizer(str(text), add_special_tokens=False)["input_ids"])
    except Exception as exc:
        raise Refused(
            "invalid_request", f"the messages do not fit the model's chat template: {exc}"
        ) from exc
    if not ids:
        raise Refused("invalid_request", "the prompt is empty")
    return ids


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
