"""Finding the system Chromium for the browser tier (tests/browser) and what to do
without it: skip with the reason locally, fail under `CI=true` (where `.ci/run` installs
Debian's `chromium`). Playwright drives that executable; it never downloads a browser."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

ENV = "TUNEYARD_CHROMIUM"
"""Names the Chromium binary to use instead of `chromium` / `chromium-browser` on PATH."""


def chromium_path() -> str | None:
    """The Chromium to drive: $TUNEYARD_CHROMIUM (None if it is not a file), else
    `chromium` or `chromium-browser` on PATH."""
    configured = os.environ.get(ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def why_missing() -> str:
    """Why `chromium_path()` found nothing, and how to fix it."""
    configured = os.environ.get(ENV)
    if configured:
        return f"{ENV}={configured} is not a file"
    return f"no Chromium on PATH: apt-get install chromium (Debian), or set {ENV}"


def launch_args(*, root: bool | None = None) -> list[str]:
    """Chromium's flags: no sandbox as root (it cannot start one there), and /tmp instead
    of a container's small /dev/shm."""
    as_root = os.geteuid() == 0 if root is None else root
    return [*(["--no-sandbox"] if as_root else []), "--disable-dev-shm-usage"]


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI=true, where the browser is part of the setup."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)
