"""One set of tests for the `Inference` port, on the in-process fake and on the real
`WorkerClient` driving a scripted worker process (`tests.support.scripted_inference`,
which plays the fake's script over the real pipes): replies, errors, cancel, the queue
bound, a crash. The client's process life (flags, idle stop, restart, a worker that
cannot start, shutdown) is tested on the real client alone."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tuneyard import errors
from tuneyard.serving import client, fake, protocol

_ROOT = Path(__file__).resolve().parents[2]
_T = TypeVar("_T")
TARGET = protocol.Target(base="/models/base", adapter="/jobs/j1/output")


def ask(text: str, rid: str = "r1", **sampling: Any) -> protocol.Generate:
    n = sampling.pop("n", 1)
    return protocol.Generate(
        id=rid,
        target=TARGET,
        messages=({"role": "system", "content": "be brief"}, {"role": "user", "content": text}),
        sampling=protocol.Sampling(**sampling),
        n=n,
    )


class Bench:
    """A port of the parametrised kind, what its worker received, and a runner."""

    def __init__(self, kind: str, tmp_path: Path, **options: Any) -> None:
        self.kind = kind
        self.log = tmp_path / f"received-{len(list(tmp_path.iterdir()))}.log"
        self.port: client.Inference
        if kind == "fake":
            self.port = fake.FakeInference(**options)
        else:
            env = {**os.environ, "PYTHONPATH": str(_ROOT), "SCRIPTED_INFERENCE_LOG": str(self.log)}
            self.port = client.WorkerClient(
                module="tests.support.scripted_inference", env=env, stop_seconds=5, **options
            )

    def received(self) -> list[str]:
        """`op id` of every request the worker got (the fake's record, or the log)."""
        if isinstance(self.port, fake.FakeInference):
            return [f"{r.op} {getattr(r, 'id', '')}".strip() for r in self.port.requests]
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if not line.startswith("start ")]

    async def until_received(self, line: str) -> None:
        """Wait (5 s at most) until the worker has received `line`."""
        deadline = time.monotonic() + 5
        while line not in self.received():
            assert time.monotonic() < deadline, self.received()
            await asyncio.sleep(0.02)

    def run(self, scenario: Callable[[Any], Awaitable[_T]]) -> _T:
        """Play `scenario(port)` on a fresh event loop (30 s at most), then close the port."""

        async def played() -> _T:
            try:
                return await asyncio.wait_for(scenario(self.port), 30)
            finally:
                await self.port.aclose()

        return asyncio.run(played())


@pytest.fixture(params=["fake", "worker"])
def bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    """Builds a Bench of the parametrised kind with port `options` (max_queued, …)."""
    made: list[Bench] = []

    def build(**options: Any) -> Bench:
        made.append(Bench(request.param, tmp_path, **options))
        return made[-1]

    yield build
    for each in made:  # nothing outlives the test
        if isinstance(each.port, client.WorkerClient):
            each.port.kill()


async def everything(port: client.Inference, request: protocol.Generate) -> list[protocol.Event]:
    return [event async for event in port.generate(request)]


def test_a_reply_comes_in_order_with_its_usage(bench: Callable[..., Bench]) -> None:
    events = bench().run(lambda port: everything(port, ask("hello there world")))
    assert isinstance(events[0], protocol.Accepted) and events[0].prompt_tokens == 13
    tokens = [e for e in events if isinstance(e, protocol.Token)]
    assert "".join(t.text for t in tokens) == "hello there world" and len(tokens) == 3
    assert events[-2] == protocol.Finished(id="r1", index=0, reason="stop", completion_tokens=3)
    assert events[-1] == protocol.Done(id="r1", prompt_tokens=13, completion_tokens=3)


def test_choices_limits_stops_and_logprobs(bench: Callable[..., Bench]) -> None:
    request = ask("one two three four", n=2, max_tokens=3, stop=("two(1)",), logprobs=True,
                  top_logprobs=2)  # fmt: skip
    events = bench().run(lambda port: everything(port, request))
    text = {i: "".join(e.text for e in events if isinstance(e, protocol.Token) and e.index == i)
            for i in (0, 1)}  # fmt: skip
    assert text == {0: "one two three", 1: "one(1) "}
    finished = {e.index: e.reason for e in events if isinstance(e, protocol.Finished)}
    assert finished == {0: "length", 1: "stop"}
    token = next(e for e in events if isinstance(e, protocol.Token))
    assert token.logprob == -0.5 and token.top_logprobs == (("one", -0.5), (" the", -1.5))


def test_refusals_are_typed_errors_and_free_their_slot(bench: Callable[..., Bench]) -> None:
    async def scenario(port: client.Inference) -> None:
        with pytest.raises(errors.ContextLengthExceeded) as long:
            await everything(port, ask("hi", max_tokens=5000))
        assert "maximum context length is 1024 tokens" in long.value.message
        with pytest.raises(errors.InferenceFailed):
            await everything(port, ask("please !fail", rid="r2"))
        assert port.outstanding == 0
        assert len(await everything(port, ask("fine", rid="r3"))) == 4

    bench().run(scenario)


def test_classify_labels_every_input(bench: Callable[..., Bench]) -> None:
    request = protocol.Classify(id="c1", target=TARGET, inputs=("good day", "bad day"))
    labels = bench().run(lambda port: port.classify(request))
    assert [label for label, _ in labels.results] == ["positive", "negative"]
    assert labels.results[0][1] == {"positive": 0.9, "negative": 0.1}


def test_closing_a_reply_early_cancels_the_request(bench: Callable[..., Bench]) -> None:
    made = bench()

    async def scenario(port: client.Inference) -> None:
        events = port.generate(ask("wait !hang", rid="gone"))
        assert isinstance(await anext(events), protocol.Accepted)
        assert port.outstanding == 1
        await events.aclose()  # the HTTP client went away
        assert port.outstanding == 0
        await made.until_received("cancel gone")
        assert len(await everything(port, ask("next", rid="next"))) == 4

    made.run(scenario)


def test_a_full_queue_refuses_with_retry_after(bench: Callable[..., Bench]) -> None:
    async def scenario(port: client.Inference) -> None:
        held = [port.generate(ask("!hang", rid=f"h{i}")) for i in range(2)]
        for events in held:
            await anext(events)
        with pytest.raises(errors.Overloaded) as full:
            await everything(port, ask("one more", rid="over"))
        assert full.value.retry_after >= 1 and port.outstanding == 2
        await held[0].aclose()
        assert len(await everything(port, ask("now it fits", rid="fits"))) == 6
        await held[1].aclose()

    bench(max_queued=2).run(scenario)


def test_a_crash_fails_every_request_it_held_then_the_next_one_works(
    bench: Callable[..., Bench],
) -> None:
    async def scenario(port: client.Inference) -> None:
        held = port.generate(ask("!hang", rid="held"))
        await anext(held)
        with pytest.raises(errors.InferenceUnavailable):
            await everything(port, ask("!crash", rid="boom"))
        with pytest.raises(errors.InferenceUnavailable):
            await anext(held)
        assert port.outstanding == 0
        assert len(await everything(port, ask("again", rid="again"))) == 4

    bench().run(scenario)


# -- the real client's process life ------------------------------------------------------
@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    made: list[Bench] = []

    def build(**options: Any) -> Bench:
        made.append(Bench("worker", tmp_path, **options))
        return made[-1]

    yield build
    for each in made:
        assert isinstance(each.port, client.WorkerClient)
        each.port.kill()


def _exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_worker_starts_on_first_use_with_the_settings(worker: Callable[..., Bench]) -> None:
    made = worker(threads=3, max_loaded_adapters=5, max_running=6)
    port = made.port
    assert isinstance(port, client.WorkerClient) and port.pid is None  # nothing started yet
    made.run(lambda p: everything(p, ask("hi")))
    first = made.log.read_text().splitlines()[0].split()
    assert first[:5] == ["start", "--threads", "3", "--max-loaded-adapters", "5"]
    assert first[5:7] == ["--max-running", "6"]  # the engine's batch: --inference-slots
    assert first[7:] == ["--parent-pid", str(os.getpid())] and port.starts == 1


def test_an_idle_worker_stops_and_the_next_request_starts_another(
    worker: Callable[..., Bench],
) -> None:
    made = worker(idle_seconds=0.3)
    port = made.port
    assert isinstance(port, client.WorkerClient)

    async def scenario(p: client.WorkerClient) -> None:
        await everything(p, ask("hi"))
        pid = p.pid
        assert pid is not None
        deadline = time.monotonic() + 10
        while p.pid is not None or not _exited(pid):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert "shutdown" in made.received()  # asked to stop, not killed
        await everything(p, ask("again", rid="r2"))
        assert p.starts == 2

    made.run(scenario)


def test_a_worker_killed_while_idle_is_replaced(worker: Callable[..., Bench]) -> None:
    async def scenario(p: client.WorkerClient) -> None:
        await everything(p, ask("hi"))
        assert p.pid is not None
        os.killpg(p.pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        assert len(await everything(p, ask("still here", rid="r2"))) == 5
        assert p.starts == 2

    worker().run(scenario)


def test_a_worker_that_cannot_start_fails_the_request_at_once(
    worker: Callable[..., Bench],
) -> None:
    made = worker()
    port = made.port
    assert isinstance(port, client.WorkerClient)
    port.module = "tests.support.no_such_worker"

    async def scenario(p: client.WorkerClient) -> None:
        with pytest.raises(errors.InferenceUnavailable):
            await everything(p, ask("hi"))
        assert p.outstanding == 0

    made.run(scenario)


def test_closing_the_client_stops_the_worker_and_fails_what_it_held(
    worker: Callable[..., Bench],
) -> None:
    made = worker()

    async def scenario(p: client.WorkerClient) -> None:
        held = p.generate(ask("!hang", rid="held"))
        await anext(held)
        pid = p.pid
        assert pid is not None
        await p.aclose()
        with pytest.raises(errors.InferenceUnavailable):
            await anext(held)
        assert _exited(pid) and p.pid is None and "shutdown" in made.received()

    made.run(scenario)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_new_event_loop_gets_a_new_worker(worker: Callable[..., Bench]) -> None:
    made = worker()
    port = made.port
    assert isinstance(port, client.WorkerClient)
    asyncio.run(everything(port, ask("first loop")))  # left running, as a test client does
    made.run(lambda p: everything(p, ask("second loop", rid="r2")))
    assert port.starts == 2 and made.received().count("generate r2") == 1
    with warnings.catch_warnings():  # the first loop's pipes, left behind with it
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()  # now, while the marks above ignore what their __del__ raises
