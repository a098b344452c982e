"""What /proc/cpuinfo says of this CPU: its model name and feature flags (no torch)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["flags", "model_name", "text"]


def text() -> str:
    """/proc/cpuinfo's text; empty where there is none (another OS)."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The first processor's feature flags (x86 `flags`, Arm `Features`); empty when unknown."""
    return frozenset(_first(cpuinfo, ("flags", "Features")).split())


def model_name(cpuinfo: str | None = None) -> str:
    """The first processor's model name; empty when unknown."""
    return _first(cpuinfo, ("model name",)).strip()


def _first(cpuinfo: str | None, keys: tuple[str, ...]) -> str:
    for line in (text() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value
    return ""
