"""The inference worker's loop and lines, over a stand-in engine (no model, no process)."""

from __future__ import annotations

import queue
from collections.abc import Sequence

from tuneyard.serving import protocol, worker

TARGET = protocol.Target(base="/models/tiny")
SAMPLES: list[protocol.Event] = [
    protocol.Accepted(id="a", prompt_tokens=3),
    protocol.Token(id="a", index=0, text='héllo "你"\n'),
    protocol.Token(
        id="a", index=1, text="x", logprob=-0.5, top_logprobs=(("x", -0.5), ("y", -2.0))
    ),
    protocol.Finished(id="a", index=0, reason="length", completion_tokens=4),
    protocol.Done(id="a", prompt_tokens=3, completion_tokens=8),
    protocol.Labels(id="c", results=(("pos", {"pos": 0.9, "neg": 0.1}),)),
    protocol.Error(id="", code="invalid_request", message="bad"),
]


class FakeEngine:
    """Records what the loop hands it; a generate request runs for `steps` steps."""

    def __init__(self, steps: int = 2) -> None:
        self.steps = steps
        self.left: dict[str, int] = {}
        self.calls: list[str] = []

    @property
    def busy(self) -> bool:
        return bool(self.left)

    @property
    def requests(self) -> list[str]:
        return list(self.left)

    def submit(self, request: protocol.Generate) -> list[protocol.Event]:
        self.calls.append(f"submit {request.id}")
        self.left[request.id] = self.steps
        return [protocol.Accepted(id=request.id, prompt_tokens=1)]

    def classify(self, request: protocol.Classify) -> list[protocol.Event]:
        self.calls.append(f"classify {request.id}")
        return [protocol.Labels(id=request.id, results=())]

    def cancel(self, request_id: str) -> None:
        self.calls.append(f"cancel {request_id}")
        self.left.pop(request_id, None)

    def step(self) -> list[protocol.Event]:
        self.calls.append("step")
        if "boom" in self.left:
            raise RuntimeError("the engine broke")
        events: list[protocol.Event] = []
        for request_id in list(self.left):
            self.left[request_id] -= 1
            events.append(protocol.Token(id=request_id, index=0, text="t"))
            if not self.left[request_id]:
                del self.left[request_id]
                events.append(protocol.Done(id=request_id, prompt_tokens=1, completion_tokens=2))
        return events


class Inbox(queue.Queue[str | None]):
    """Input that ends (None) once the loop waits on it with nothing left to read."""

    def get(self, block: bool = True, timeout: float | None = None) -> str | None:
        if block and self.empty():
            return None
        return super().get(block, timeout)


def run(lines: Sequence[str | None], engine: FakeEngine) -> list[protocol.Event]:
    inbox = Inbox()
    for line in lines:
        inbox.put(line)
    written: list[protocol.Event] = []
    worker.serve(engine, inbox, written.extend)
    return written


def generate(request_id: str) -> str:
    return protocol.encode(protocol.Generate(id=request_id, target=TARGET, messages=()))


def test_event_lines_are_the_protocol_encoding() -> None:
    for event in SAMPLES:
        assert worker.line(event) == protocol.encode(event)
        assert protocol.decode_event(worker.line(event)) == event


def test_requests_are_stepped_until_done_and_the_loop_returns_at_the_end_of_input() -> None:
    engine = FakeEngine()
    written = run([generate("a"), generate("b")], engine)
    assert engine.calls == ["submit a", "submit b", "step", "step"]
    kinds = [type(e).__name__ for e in written if e.id == "a"]
    assert kinds == ["Accepted", "Token", "Token", "Done"]
    engine = FakeEngine(steps=100)
    run([generate("a"), None], engine)  # the end of input ends the worker, running or not
    assert engine.calls == ["submit a"]


def test_shutdown_stops_at_once_and_cancel_reaches_the_engine() -> None:
    engine = FakeEngine(steps=100)
    classify = protocol.Classify(id="c", target=TARGET, inputs=("x",))
    lines = [generate("a"), protocol.encode(protocol.Cancel(id="a")), protocol.encode(classify)]
    written = run([*lines, protocol.encode(protocol.Shutdown()), generate("never")], engine)
    assert engine.calls == ["submit a", "cancel a", "classify c"]
    assert [type(e).__name__ for e in written] == ["Accepted", "Labels"]


def test_a_bad_line_gets_an_error_and_the_loop_goes_on() -> None:
    engine = FakeEngine(steps=1)
    bad = [
        "not json",
        "[1, 2]",
        '{"op": "dance", "id": "d1"}',
        '{"op": "generate", "id": "g1"}',
        '{"op": "generate", "id": 7, "target": {"base": "x"}, "messages": [], "surprise": 1}',
        "",
    ]
    written = run([*bad, generate("ok")], engine)
    errors = [e for e in written if isinstance(e, protocol.Error)]
    assert [(e.id, e.code) for e in errors] == [
        ("", "invalid_request"),
        ("", "invalid_request"),
        ("d1", "invalid_request"),
        ("g1", "invalid_request"),
        ("", "invalid_request"),
    ]
    assert isinstance(written[-1], protocol.Done) and written[-1].id == "ok"


def test_an_engine_failure_fails_its_requests_and_the_worker_goes_on() -> None:
    engine = FakeEngine(steps=100)
    written = run([generate("boom"), generate("x")], engine)
    errors = [e for e in written if isinstance(e, protocol.Error)]
    assert [(e.id, e.code) for e in errors] == [("boom", "internal"), ("x", "internal")]
    assert "the engine broke" in errors[0].message
    assert engine.calls == ["submit boom", "submit x", "step", "cancel boom", "cancel x"]
