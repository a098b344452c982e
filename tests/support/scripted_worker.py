"""A scripted worker process: the fake executor's script, played by a real subprocess.

Run by `LocalExecutor(module="tests.support.scripted_worker")` exactly as the trainer is
(`python -m … SPEC --parent-pid PID`), so the local executor's process plumbing (pipes,
signals, exit statuses, worker.log) is tested without training anything. It reads
`script.json` beside the spec: `{"events": [...], "hold": bool}`. It answers SIGTERM with
`cancelled` (exit 3) and SIGUSR1 with `paused` (exit 4) at its next boundary, and while
`hold` is set it waits before its final event until a `release` file appears beside the
spec. The entry `{"event": "_killed"}` makes it SIGKILL itself, as a crash would.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

_FINAL = ("succeeded", "failed", "cancelled")
_EXIT = {"succeeded": 0, "failed": 1, "cancelled": 3}
_asked: list[str] = []


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _stop_if_asked(step: int) -> None:
    if "term" in _asked:
        _emit({"event": "cancelled", "step": step})
        sys.exit(3)
    if "pause" in _asked:
        _emit({"event": "paused", "step": step})
        sys.exit(4)


def main() -> None:
    """Play the script next to the spec named on the command line."""
    work_dir = Path(sys.argv[1]).parent
    script = json.loads((work_dir / "script.json").read_text())
    signal.signal(signal.SIGTERM, lambda *_: _asked.append("term"))
    signal.signal(signal.SIGUSR1, lambda *_: _asked.append("pause"))
    sys.stderr.write("scripted worker started\n")
    step = 0
    for event in script["events"]:
        if event["event"] == "_killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if event["event"] in _FINAL:
            while script["hold"] and not (work_dir / "release").exists() and not _asked:
                time.sleep(0.02)
            _stop_if_asked(step)
        if event["event"] == "progress":
            step = int(event["step"])
        _emit(event)
        if event["event"] in _FINAL:
            sys.exit(_EXIT[event["event"]])
    sys.exit(0)


if __name__ == "__main__":
    main()
