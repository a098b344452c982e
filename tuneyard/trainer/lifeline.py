"""The worker's tie to the server that started it.

A server killed outright (SIGKILL, the OOM killer) runs no handler, so it cannot stop its
workers, and they run in their own session, so no signal reaches them either. Each worker
is therefore told its server's pid (`--parent-pid`) and watches it: once the worker is no
longer that process's child (it was re-parented, so the server is gone) it exits at once,
instead of training on — and holding its memory — until its next protocol line hits the
broken pipe. Exiting at any instant is safe: checkpoints are written atomically and the
final model is staged and renamed, so a restarted server resumes the job from its last
checkpoint, exactly as after a SIGKILL of the worker.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from tuneyard.core import protocol

__all__ = ["EXIT_ORPHANED", "claim_stdout", "quiet_libraries", "watch"]

EXIT_ORPHANED = protocol.EXIT_CANCELLED
"""The worker's exit status when its server is gone (no one is left to read it)."""


def _exit(parent_pid: int) -> None:
    sys.stderr.write(f"tuneyard worker: its server (pid {parent_pid}) is gone; exiting\n")
    sys.stderr.flush()
    os._exit(EXIT_ORPHANED)


def watch(
    parent_pid: int,
    *,
    interval: float = 0.2,
    getppid: Callable[[], int] = os.getppid,
    on_lost: Callable[[int], None] = _exit,
) -> threading.Thread:
    """Start a daemon thread that checks every `interval` seconds that this process is
    still `parent_pid`'s child and calls `on_lost(parent_pid)` once it is not (by default:
    exit now, without cleanup)."""

    def run() -> None:
        while getppid() == parent_pid:
            time.sleep(interval)
        on_lost(parent_pid)

    thread = threading.Thread(target=run, name="tuneyard-lifeline", daemon=True)
    thread.start()
    return thread


def claim_stdout() -> TextIO:
    """Keep the real stdout for the worker's protocol lines; send fd 1 and sys.stdout to
    stderr, so that nothing a library prints can corrupt the protocol."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1)


_LIBRARY_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
}


def quiet_libraries() -> None:
    """Offline, no progress bars, no tokenizer threads, errors only: the Hugging Face
    libraries' settings a worker runs with, unless its environment already sets them."""
    for key, value in _LIBRARY_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
