"""Golden request/response files: `UPDATE_GOLDEN=1 pytest …` rewrites them; review the diff."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[1] / "dialects" / "golden"

_VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0900"), "<datetime>"),
    (re.compile(r"^\d{6}-\d{6}$"), "<timestamp-name>"),
    (re.compile(r"^[0-9a-f]{32}$"), "<request-id>"),
    (re.compile(r"ft-\d{12}-[a-z0-9]{4}"), "<new-job-id>"),  # DashScope ids not yet named
    (re.compile(r"\b(?:job|task)-[a-z0-9]{12}\b"), "<new-qianfan-id>"),  # not yet named
    (re.compile(r"\bfile-[a-z0-9]{24}\b"), "<new-file-id>"),  # not yet named
    (re.compile(r"\bftjob-[a-z0-9]{8}\b"), "<new-ftjob-id>"),  # not yet named
    (re.compile(r"(?<=displayToken=)[A-Za-z0-9_%=-]+"), "<display-token>"),  # sealed, random
]


def normalise(value: Any, ids: dict[str, str]) -> Any:
    """Replace ids and times by stable placeholders so files compare across runs."""
    if isinstance(value, dict):
        return {k: normalise(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, ids) for v in value]
    if isinstance(value, str):
        if value in ids:
            return ids[value]
        for real in sorted(ids, key=len, reverse=True):  # ids inside names and messages
            value = value.replace(real, ids[real])
        for pattern, placeholder in _VOLATILE:
            if pattern.search(value):
                return pattern.sub(placeholder, value)
    return value


def check(name: str, exchange: dict[str, Any]) -> None:
    """Compare an exchange with `golden/<name>.json` (or write it under UPDATE_GOLDEN=1)."""
    path = GOLDEN / f"{name}.json"
    text = json.dumps(exchange, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8")), f"differs: {path}"


def exchange(
    name: str, method: str, url: str, request: Any, response: Any, ids: dict[str, str]
) -> Any:
    """Check one HTTP exchange (an httpx/TestClient response) against `golden/<name>.json`,
    ids and times replaced by placeholders; returns the response's JSON body (or, for a
    body that is not JSON, such as a file's content, its text)."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    check(
        name,
        {
            "request": {
                "method": method,
                "path": normalise(url, ids),
                "body": normalise(request, ids),
            },
            "response": {"status": response.status_code, "body": normalise(body, ids)},
        },
    )
    return body
