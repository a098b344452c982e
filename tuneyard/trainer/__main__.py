"""Entry point of the worker process: `python -m tuneyard.trainer SPEC.json`.

stdout carries protocol lines only: the real stdout is kept for them and fd 1 (with
`sys.stdout`) is pointed at stderr, so whatever a library prints lands on stderr. SIGTERM
sets a flag the run checks at every step boundary (SIGUSR1 one that pauses it: a checkpoint
is saved, then it exits). The worker exits at once when its server is gone: with
`--parent-pid` as soon as that process dies (`tuneyard.trainer.lifeline`), and whenever a
protocol line meets a broken pipe. Any unexpected exception becomes a `failed` event with
code `train.unknown`; the exit status follows `tuneyard.core.protocol`, and the process
exits right after its final line (no interpreter teardown).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType

from tuneyard.core import dtype, jobs, protocol
from tuneyard.trainer import lifeline

__all__ = ["PRECISION_ENV", "main"]

PRECISION_ENV = dtype.SETTING_ENV
"""Inherited from the server's environment (`core.dtype.SETTING_ENV`)."""

_UNKNOWN = "train.unknown"
_MESSAGE_LIMIT = 1000


def main(argv: list[str] | None = None) -> int:
    """Run the training job described by the spec file; return the protocol's exit status."""
    stop = threading.Event()
    pause = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_sigusr1(signum: int, frame: FrameType | None) -> None:
        pause.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGUSR1, on_sigusr1)
    args = _parser().parse_args(argv)
    if args.parent_pid is not None:
        lifeline.watch(args.parent_pid)
    stream = lifeline.claim_stdout()
    lifeline.quiet_libraries()

    from tuneyard.trainer import report, staging

    reporter = report.Reporter(stream)
    try:
        from tuneyard.trainer import recipe

        spec = jobs.TrainingSpec.from_dict(json.loads(Path(args.spec).read_text("utf-8")))
        staged = staging.for_spec(spec, os.environ)  # a job whose bytes live in a bucket
        if staged is not None:
            spec = staged.pull()
            reporter = report.Reporter(stream, before_emit=staged.push)
        recipe.run(
            spec,
            reporter,
            stop.is_set,
            pause.is_set,
            precision_setting=os.environ.get(PRECISION_ENV, "auto"),
        )
    except report.Cancelled as exc:
        reporter.emit(protocol.Cancelled(step=exc.step))
        return protocol.EXIT_CANCELLED
    except report.Paused as exc:
        reporter.emit(protocol.Paused(step=exc.step))
        return protocol.EXIT_PAUSED
    except report.Failed as exc:
        reporter.emit(protocol.Failed(code=exc.code, message=exc.message))
        return protocol.EXIT_FAILED
    except BrokenPipeError:  # the server stopped reading our lines: it is gone
        print("tuneyard worker: the protocol pipe is broken; exiting", file=sys.stderr)
        return lifeline.EXIT_ORPHANED
    except Exception as exc:
        traceback.print_exc()
        reporter.emit(protocol.Failed(code=_UNKNOWN, message=_one_line(exc)))
        return protocol.EXIT_FAILED
    return protocol.EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tuneyard.trainer",
        description="Train one tuneyard job; progress goes to stdout as JSON lines.",
    )
    parser.add_argument("spec", help="path of the TrainingSpec JSON file")
    parser.add_argument(
        "--parent-pid",
        type=int,
        help="the server's pid: exit at once when it is gone (the local executor passes it)",
    )
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _exit_now(status: int) -> None:
    """Flush and leave without interpreter teardown, which takes over a second with torch
    loaded; a cancelled worker must be gone within a second of its `cancelled` line."""
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    try:
        status = main()
    except BrokenPipeError:  # a final line the server can no longer read
        status = lifeline.EXIT_ORPHANED
    _exit_now(status)
