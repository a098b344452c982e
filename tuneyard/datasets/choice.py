"""Which format a job reads its dataset in, and whether a file is too big to profile.

The core keeps a job's dialect as an opaque string and asks here; this package knows the
vendors' format names (CLOVA jobs read CLOVA files, chosen by extension).
"""

from __future__ import annotations

from pathlib import Path

from tuneyard.datasets import formats, validator
from tuneyard.kinds import Objective

__all__ = ["PROFILE_CLOVA_MAX_BYTES", "clova_format", "format_for_job", "too_big_to_profile"]


PROFILE_CLOVA_MAX_BYTES = 256 << 20
"""CLOVA rows of one conversation may be anywhere in the file, so profiling its examples
holds the texts until the end; above this size the file is validated without a profile
(a job then takes numOfTokens from its worker)."""


def clova_format(filename: str) -> str:
    """The CLOVA format a file name implies (the validator still checks the extension)."""
    return "clova-csv" if filename.lower().endswith(".csv") else "clova-jsonl"


def format_for_job(
    path: Path, filename: str, *, dialect: str, objective: Objective
) -> tuple[str | None, str | None]:
    """(format, problem): the dataset format a job reads its file in, and why the file
    cannot serve the job's objective (None when it can).

    CLOVA jobs read CLOVA files (by extension); others read any format, detected, whose
    declared kind (`formats.Format.kind`) is the job's objective.
    """
    if dialect == "clova" and objective is Objective.SFT:
        return clova_format(filename), None
    fmt = validator.detect(path, filename)
    if fmt is None:
        return None, None  # the validator reports what is wrong with the file
    kind = formats.BY_NAME[fmt].kind
    if kind is not objective:
        holds = formats.HOLDS
        return fmt, (
            f"{objective.value.upper()} trains on {holds[objective]}; {fmt} holds {holds[kind]}"
        )
    return fmt, None


def too_big_to_profile(path: Path, filename: str, fmt: str | None) -> str | None:
    """Why the examples of this file are not profiled, or None to profile them."""
    try:
        size = path.stat().st_size
    except OSError:
        return None  # the validator reports the missing file
    if size <= PROFILE_CLOVA_MAX_BYTES:
        return None
    if (fmt or validator.detect(path, filename) or "").startswith("clova"):
        return (
            f"CLOVA files over {PROFILE_CLOVA_MAX_BYTES >> 20} MB are checked without "
            "counting tokens (their conversations are grouped only at the end of the file)"
        )
    return None
