"""A worker that counts itself, for the replicas test: every start appends one JSON line
`{"job", "pid", "parent", "at"}` to the file named by TUNEYARD_TEST_STARTS, then becomes
the real worker.

A job whose dataset file is named `scripted…` plays the scripted worker (a short
successful run, `tests.support.scripted_worker`, after TUNEYARD_TEST_SCRIPTED_SECONDS of
"loading", default 1), tied to its server's life as the trainer is
(`tuneyard.trainer.lifeline`); any other job execs the real trainer in this same process,
so its pid, parent and `--parent-pid` stay those the executor started.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tests.support import scripted_worker
from tuneyard.core.jobs import TrainingSpec
from tuneyard.scheduler.executors.fake import successful_run
from tuneyard.trainer import lifeline


def _count(spec: TrainingSpec) -> None:
    line = json.dumps(
        {"job": spec.job_id, "pid": os.getpid(), "parent": os.getppid(), "at": time.time()}
    )
    fd = os.open(os.environ["TUNEYARD_TEST_STARTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())  # one short O_APPEND write: never interleaved
    finally:
        os.close(fd)


def main() -> None:
    """Count this start, then run the scripted worker or the trainer."""
    spec_path = Path(sys.argv[1])
    spec = TrainingSpec.from_dict(json.loads(spec_path.read_text("utf-8")))
    _count(spec)
    if not spec.dataset_filename.startswith("scripted"):
        os.execv(sys.executable, [sys.executable, "-m", "tuneyard.trainer", *sys.argv[1:]])
    lifeline.watch(int(sys.argv[sys.argv.index("--parent-pid") + 1]))
    time.sleep(float(os.environ.get("TUNEYARD_TEST_SCRIPTED_SECONDS", "1")))
    script = {"events": successful_run(spec), "hold": False}
    (spec_path.parent / "script.json").write_text(json.dumps(script))
    scripted_worker.main()


if __name__ == "__main__":
    main()
