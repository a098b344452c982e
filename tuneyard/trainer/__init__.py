"""The training worker: `python -m tuneyard.trainer SPEC.json` trains one job in its own process.

It reads a `tuneyard.core.jobs.TrainingSpec`, trains (see `recipe`), saves the tuned model
and reports on stdout with the `tuneyard.core.protocol`.
"""

from __future__ import annotations

__all__: list[str] = []
