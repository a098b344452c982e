"""The one exception the worker turns into an `error` event with a protocol code."""

from __future__ import annotations

__all__ = ["Refused"]


class Refused(Exception):
    """A request the worker answers with an `error` event (`code` is a protocol code)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)
