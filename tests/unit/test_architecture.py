"""House rule 2: the core cannot see the edges."""

from __future__ import annotations

import subprocess
import sys

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


def test_core_imports_no_web_orm_torch_or_ray() -> None:
    code = (
        "import sys, pkgutil, importlib, tuneyard.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__):\n"
        "    importlib.import_module('tuneyard.core.' + m.name)\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    leaked = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert leaked == []


def test_errors_are_not_http_below_api() -> None:
    """No HTTPException outside tuneyard/api (rule 4)."""
    from pathlib import Path

    import tuneyard

    root = Path(tuneyard.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "HTTPException" in path.read_text() and path.relative_to(root).parts[0] != "api"
    ]
    assert offenders == []


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
