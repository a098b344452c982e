"""The server's log lines: text for people, or one JSON object a line for log pipelines.

`setup(settings)` configures the root logger (tuneyard's loggers and uvicorn's, which
propagate to it in JSON mode); `uvicorn_options(settings)` is what uvicorn is told so that
its lines come out the same way. In JSON mode uvicorn's own access line (which knows no
request id or duration) is off: `tuneyard.access` writes one per request instead
(`tuneyard.api.observe`).

A JSON line holds `time` (UTC, RFC 3339, milliseconds), `level`, `logger`, `message`,
every field a call passed in `extra` (an access line: `method`, `path`, `route`,
`status`, `duration_ms`, `dialect`, `request_id`, `client`), and `exception` when one
was logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from tuneyard.settings import Settings

__all__ = ["JsonFormatter", "setup", "uvicorn_options"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The text mode's line (uvicorn keeps its own default format there)."""

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
    "taskName",
}
"""LogRecord attributes that are not a call's `extra` fields."""


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON: time, level, logger, message, its extra fields, exception."""
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def setup(settings: Settings) -> None:
    """Configure the root logger for the server: its level and line format."""
    level = settings.log_level.upper()
    if settings.log_format != "json":
        logging.basicConfig(level=level, format=TEXT_FORMAT)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config`: in JSON mode uvicorn configures no logging
    of its own (its loggers propagate to the root's JSON handler) and writes no access
    line; in text mode it keeps its defaults."""
    if settings.log_format != "json":
        return {"log_level": settings.log_level}
    return {"log_level": settings.log_level, "log_config": None, "access_log": False}
