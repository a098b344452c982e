"""The inference worker process: protocol lines in on stdin, events out on stdout.

`python -m tuneyard.serving [--threads N] [--max-loaded-adapters K] [--parent-pid PID]`

A reader thread turns stdin into a queue of lines; the main thread runs the engine: it
takes every line that has arrived (a `generate` is queued and answered `accepted`, a
`classify` answered at once, a `cancel` marks its request), runs one decoding step when
any request is running, and writes each event as one JSON line, flushed. While nothing is
running it sleeps on the queue. A line that is not a request gets an `error` event
(`invalid_request`; id "" when the line names none) and nothing else happens.

It exits 0 on `shutdown` or at the end of stdin, at once when the protocol pipe breaks, and
— with `--parent-pid`, as training workers do — as soon as its server is gone. stdout
carries protocol lines only: anything a library prints goes to stderr. `--threads` bounds
the CPU threads inference uses (default 1), so that it cannot starve a training job.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import queue
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from tuneyard.serving import protocol
from tuneyard.trainer import lifeline

__all__ = ["line", "main", "serve"]

_FIELDS: dict[type, tuple[str, ...]] = {}


def main(argv: list[str] | None = None) -> int:
    """Run the worker until shutdown or end of input; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.parent_pid is not None:
        lifeline.watch(args.parent_pid)
    stream = lifeline.claim_stdout()
    lifeline.quiet_libraries()
    import torch

    torch.set_num_threads(max(1, args.threads))
    with contextlib.suppress(RuntimeError):  # already fixed by an earlier parallel call
        torch.set_num_interop_threads(1)
    from tuneyard.serving import engine

    runner = engine.Engine(
        max_loaded_adapters=args.max_loaded_adapters,
        max_loaded_models=args.max_loaded_models,
        max_running=args.max_running,
        max_step_tokens=args.max_step_tokens,
        device=args.device,
        dtype=getattr(torch, args.dtype),
    )
    lines: queue.Queue[str | None] = queue.Queue()
    source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    threading.Thread(target=_read, args=(source, lines), daemon=True).start()

    def write(events: Sequence[protocol.Event]) -> None:
        if events:
            stream.write("".join(line(event) + "\n" for event in events))
            stream.flush()

    try:
        serve(runner, lines, write)
    except BrokenPipeError:
        return 0
    return 0


def serve(
    runner: Any,
    lines: queue.Queue[str | None],
    write: Callable[[Sequence[protocol.Event]], None],
) -> None:
    """The worker's loop over an `Engine`: read what arrived, step, write (each batch of
    events at once); returns on `shutdown` or end of input (a None in `lines`)."""
    while True:
        arrived: list[str | None] = [] if runner.busy else [lines.get()]
        while True:
            try:
                arrived.append(lines.get_nowait())
            except queue.Empty:
                break
        for line in arrived:
            if line is None:
                return
            request, events = _decode(line)
            if isinstance(request, protocol.Shutdown):
                return
            if isinstance(request, protocol.Generate):
                events = runner.submit(request)
            elif isinstance(request, protocol.Classify):
                events = runner.classify(request)
            elif isinstance(request, protocol.Cancel):
                runner.cancel(request.id)
            write(events)
        if runner.busy:
            write(_step(runner))


def _step(runner: Any) -> list[protocol.Event]:
    """One engine step; should the engine itself fail, every request it holds fails (an
    `error` event each) and is dropped, and the worker goes on."""
    try:
        return list(runner.step())
    except Exception as exc:
        traceback.print_exc()
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:1000]
        failed: list[protocol.Event] = []
        for request_id in runner.requests:
            failed.append(protocol.Error(id=request_id, code="internal", message=message))
            runner.cancel(request_id)
        return failed


def line(event: protocol.Event) -> str:
    """`protocol.encode(event)`, faster: the records are flat but for tuples of plain values,
    which JSON writes as lists just as `dataclasses.asdict` makes them."""
    names = _FIELDS.get(type(event))
    if names is None:
        names = _FIELDS[type(event)] = tuple(f.name for f in dataclasses.fields(event))
    record = {name: getattr(event, name) for name in names}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _decode(line: str) -> tuple[protocol.Request | None, list[protocol.Event]]:
    """The request on a line, or the `error` event that answers a bad line."""
    if not line.strip():
        return None, []
    try:
        return protocol.decode_request(line), []
    except Exception as exc:
        message = " ".join(f"not a request line: {type(exc).__name__}: {exc}".split())[:1000]
        return None, [protocol.Error(id=_id_of(line), code="invalid_request", message=message)]


def _id_of(line: str) -> str:
    try:
        data = json.loads(line)
    except ValueError:
        return ""
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else ""


def _read(source: TextIO, lines: queue.Queue[str | None]) -> None:
    """Put each line of `source` in `lines`, then None at its end."""
    try:
        for line in source:
            lines.put(line.rstrip("\n"))
    except (OSError, ValueError):
        pass
    lines.put(None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tuneyard.serving",
        description="Serve chat and classification requests as JSON lines on stdin/stdout.",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads inference may use (default 1)"
    )
    parser.add_argument(
        "--max-loaded-adapters",
        type=int,
        default=8,
        help="adapters kept in memory; the least recently used idle one is evicted past it",
    )
    parser.add_argument(
        "--max-loaded-models", type=int, default=2, help="base models kept in memory"
    )
    parser.add_argument(
        "--max-running", type=int, default=64, help="sequences decoded in one batch at most"
    )
    parser.add_argument(
        "--max-step-tokens",
        type=int,
        default=1024,
        help="tokens one decoding step runs at most (longer prompts are prefilled in chunks)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, …)")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="weights and KV cache precision (default float32; sampling is float32 always)",
    )
    parser.add_argument(
        "--parent-pid", type=int, help="the server's pid: exit at once when it is gone"
    )
    return parser
