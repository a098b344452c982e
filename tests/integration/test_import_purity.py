"""House rule 2 at run time: importing the core, the datasets or the server loads no web,
ORM, torch or Ray code (each checked in a fresh interpreter, so a process is started)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tuneyard

pytestmark = pytest.mark.integration


FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "torch",
    "transformers",
    "peft",
    "ray",
    "uvicorn",
)


def loaded_by(package: str) -> list[str]:
    """The modules a fresh interpreter has loaded after importing every module of `package`."""
    code = (
        f"import sys, pkgutil, importlib, {package} as p\n"
        "for m in pkgutil.iter_modules(p.__path__):\n"
        f"    importlib.import_module('{package}.' + m.name)\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(tuneyard.__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout.split()


def test_core_imports_no_web_orm_torch_or_ray() -> None:
    leaked = [m for m in loaded_by("tuneyard.core") if m.split(".")[0] in FORBIDDEN]
    assert leaked == []


def test_datasets_import_no_web_orm_torch_or_ray() -> None:
    """Validation runs in the server process and the CLI: no torch, web or ORM code."""
    leaked = [m for m in loaded_by("tuneyard.datasets") if m.split(".")[0] in FORBIDDEN]
    assert leaked == []


def test_the_server_process_never_loads_torch() -> None:
    """Only workers train; the API + scheduler process stays small."""
    code = (
        "import sys, tuneyard.cli.main, tuneyard.runtime, tuneyard.api.app\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert [m for m in loaded if m.split(".")[0] in ("torch", "transformers", "peft")] == []
