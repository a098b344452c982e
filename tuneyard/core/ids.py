"""Id minting for every resource, and the clock the core reads time from."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string

__all__ = [
    "DASHSCOPE_JOB_ID_PATTERN",
    "JOB_ID_PATTERN",
    "QIANFAN_ID_PATTERN",
    "SystemClock",
    "new_access_key_pair",
    "new_api_key",
    "new_file_id",
    "new_group_id",
    "new_job_id",
    "new_request_id",
]

_ALPHANUM = string.ascii_lowercase + string.digits

JOB_ID_PATTERN = re.compile(r"^[a-z0-9]{8}$")
"""A job id: 8 lowercase alphanumerics, as CLOVA Studio's task ids (`czf9fbky`)."""


def _token(length: int, alphabet: str = _ALPHANUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


DASHSCOPE_JOB_ID_PATTERN = re.compile(r"^ft-\d{12}-[a-z0-9]{4}$")
"""A DashScope job id: `ft-{yyyyMMddHHmm}-{4 lowercase alphanumerics}` (seed 002)."""

QIANFAN_ID_PATTERN = re.compile(r"^(job|task)-[a-z0-9]{12}$")
"""A Qianfan job (group) or task id (spec §3.3)."""


def new_job_id(dialect: str = "clova", now: dt.datetime | None = None) -> str:
    """A fresh job id in the style of the dialect that creates the job.

    DashScope: `ft-{yyyyMMddHHmm}-xxxx` from `now` in Beijing time, as its `create_time`
    shows it; Qianfan: `task-` and 12 lowercase alphanumerics; every other dialect: 8
    lowercase alphanumerics with at least one letter (CLOVA's task ids).
    """
    if dialect == "dashscope":
        beijing = dt.timezone(dt.timedelta(hours=8))
        stamp = (now or dt.datetime.now(dt.UTC)).astimezone(beijing).strftime("%Y%m%d%H%M")
        return f"ft-{stamp}-{_token(4)}"
    if dialect == "qianfan":
        return "task-" + _token(12)
    while True:
        candidate = _token(8)
        if not candidate.isdigit():
            return candidate


def new_group_id() -> str:
    """A fresh job group id, `job-` and 12 lowercase alphanumerics (Qianfan's job ids)."""
    return "job-" + _token(12)


def new_file_id() -> str:
    """A fresh file id, `file-` and 24 lowercase alphanumerics."""
    return "file-" + _token(24)


def new_request_id() -> str:
    """A fresh request id for responses that carry one."""
    return secrets.token_hex(16)


def new_access_key_pair() -> tuple[str, str]:
    """A fresh bce-auth-v1 (access key ID, secret key): 32 hex digits each, as Baidu's."""
    return secrets.token_hex(16), secrets.token_hex(16)


def new_api_key(prefix: str) -> str:
    """A fresh bearer API key: the prefix (e.g. `nv-`) and 32 hex digits (128 bits)."""
    return prefix + secrets.token_hex(16)


class SystemClock:
    """The real clock: aware UTC datetimes."""

    def now(self) -> dt.datetime:
        """The current time in UTC."""
        return dt.datetime.now(dt.UTC)
