"""`python -m tests.support.replica serve …`: the real `tuneyard serve` (the same CLI
code, every flag and TUNEYARD_* variable as a user passes them) with one difference: its
workers are `tests.support.counted_worker`, which records each start and then plays a
scripted run or execs the real trainer. Used by the replicas test and the claim bench.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tuneyard.cli import main as cli
from tuneyard.scheduler.executors.local import LocalExecutor

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.support.counted_worker"


def executor() -> LocalExecutor:
    """The local executor running the counted worker (the repository on its PYTHONPATH)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return LocalExecutor(env={**os.environ, "PYTHONPATH": path}, module=MODULE)


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:], executor=executor()))
