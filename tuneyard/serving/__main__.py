"""Entry point of the inference worker: `python -m tuneyard.serving` (see `worker`).

The process leaves right after its last line, without interpreter teardown (which takes
over a second with torch loaded).
"""

from __future__ import annotations

import os
import sys

from tuneyard.serving import worker

if __name__ == "__main__":
    try:
        status = worker.main()
    except BrokenPipeError:  # the server stopped reading: it is gone
        status = 0
    except KeyboardInterrupt:
        status = 130
    sys.stderr.flush()
    os._exit(status)
