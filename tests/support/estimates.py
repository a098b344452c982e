"""A fixed machine and sizing for estimate tests (no calibration is run)."""

from __future__ import annotations

from tuneyard.basemodels import shapes
from tuneyard.core import estimate
from tuneyard.core.estimates import Policy, Sizing

MACHINE = estimate.Machine(
    key="test machine",
    device="cpu",
    memory_bytes=16 << 30,
    gemm=((128, 1e-10), (512, 2e-11), (2048, 2e-11)),
    attention_s=1e-10,
    attention_call_s=1e-4,
    elementwise_s=1e-9,
    op_s=5e-6,
    optimizer_s=3e-9,
    base_bytes=400 << 20,
    startup_s=3.0,
)
"""A plausible 2-core CPU: 50 GFLOP/s GEMMs, 16 GiB."""


def sizing(
    *, max_job_seconds: float = 0.0, max_job_memory: int = 0, running_jobs: int = 1
) -> Sizing:
    """Estimates on `MACHINE` with this policy."""
    return Sizing(
        machine=lambda wait: MACHINE,
        shape=shapes.shape_of,
        policy=Policy(
            max_job_seconds=max_job_seconds,
            max_job_memory=max_job_memory,
            running_jobs=running_jobs,
        ),
    )
