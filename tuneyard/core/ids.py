"""Id minting for every resource, and the clock the core reads time from."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string

__all__ = [
    "JOB_ID_PATTERN",
    "SystemClock",
    "new_api_key",
    "new_file_id",
    "new_job_id",
    "new_request_id",
]

_ALPHANUM = string.ascii_lowercase + string.digits

JOB_ID_PATTERN = re.compile(r"^[a-z0-9]{8}$")
"""A job id: 8 lowercase alphanumerics, as CLOVA Studio's task ids (`czf9fbky`)."""


def _token(length: int, alphabet: str = _ALPHANUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_job_id() -> str:
    """A fresh job id: 8 lowercase alphanumerics with at least one letter."""
    while True:
        candidate = _token(8)
        if not candidate.isdigit():
            return candidate


def new_file_id() -> str:
    """A fresh file id, `file-` and 24 lowercase alphanumerics."""
    return "file-" + _token(24)


def new_request_id() -> str:
    """A fresh request id for responses that carry one."""
    return secrets.token_hex(16)


def new_api_key(prefix: str) -> str:
    """A fresh bearer API key: the prefix (e.g. `nv-`) and 32 hex digits (128 bits)."""
    return prefix + secrets.token_hex(16)


class SystemClock:
    """The real clock: aware UTC datetimes."""

    def now(self) -> dt.datetime:
        """The current time in UTC."""
        return dt.datetime.now(dt.UTC)
