"""Id minting for every resource (job ids in a dialect-chosen style), and the clock the
core reads time from."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
import string

__all__ = [
    "GROUP_ID_PATTERN",
    "JOB_ID_PATTERN",
    "SHORT",
    "IdStyle",
    "SystemClock",
    "new_access_key_pair",
    "new_api_key",
    "new_deployment_id",
    "new_file_id",
    "new_group_id",
    "new_job_id",
    "new_request_id",
]

_ALPHANUM = string.ascii_lowercase + string.digits


def _token(length: int, alphabet: str = _ALPHANUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclasses.dataclass(frozen=True, slots=True)
class IdStyle:
    """How a job's id looks: `{prefix}{stamp-}{token}`, a token of `length` lowercase
    alphanumerics.

    With `stamp_offset` the id carries the minute it was made, `{yyyyMMddHHmm}-`, in that
    UTC offset. Without a prefix or a stamp the token has at least one letter (an id is
    never all digits).
    """

    prefix: str = ""
    length: int = 8
    stamp_offset: dt.timedelta | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        """A regular expression every id of this style matches."""
        stamp = r"\d{12}-" if self.stamp_offset is not None else ""
        return re.compile(rf"^{re.escape(self.prefix)}{stamp}[a-z0-9]{{{self.length}}}$")

    def mint(self, now: dt.datetime | None = None) -> str:
        """A fresh id of this style; `now` (aware) dates a stamped one."""
        stamp = ""
        if self.stamp_offset is not None:
            local = (now or dt.datetime.now(dt.UTC)).astimezone(dt.timezone(self.stamp_offset))
            stamp = local.strftime("%Y%m%d%H%M") + "-"
        while True:
            token = _token(self.length)
            if self.prefix or stamp or not token.isdigit():
                return f"{self.prefix}{stamp}{token}"


SHORT = IdStyle()
"""The default job id: 8 lowercase alphanumerics with at least one letter (`czf9fbky`)."""

JOB_ID_PATTERN = SHORT.pattern
"""A default-style job id."""

GROUP_ID_PATTERN = re.compile(r"^job-[a-z0-9]{12}$")
"""A job group id."""


def new_job_id(style: IdStyle = SHORT, now: dt.datetime | None = None) -> str:
    """A fresh job id in `style` (the creating dialect's id scheme)."""
    return style.mint(now)


def new_group_id() -> str:
    """A fresh job group id, `job-` and 12 lowercase alphanumerics."""
    return "job-" + _token(12)


def new_deployment_id() -> str:
    """A fresh deployment id, `dep-` and 16 hex digits (clients call a deployment by its
    name; the id is the record's key)."""
    return "dep-" + secrets.token_hex(8)


def new_file_id() -> str:
    """A fresh file id, `file-` and 24 lowercase alphanumerics."""
    return "file-" + _token(24)


def new_request_id() -> str:
    """A fresh request id for responses that carry one."""
    return secrets.token_hex(16)


def new_access_key_pair() -> tuple[str, str]:
    """A fresh (access key ID, secret key) pair for signed requests: 32 hex digits each."""
    return secrets.token_hex(16), secrets.token_hex(16)


def new_api_key(prefix: str) -> str:
    """A fresh bearer API key: the prefix (e.g. `nv-`) and 32 hex digits (128 bits)."""
    return prefix + secrets.token_hex(16)


class SystemClock:
    """The real clock: aware UTC datetimes."""

    def now(self) -> dt.datetime:
        """The current time in UTC."""
        return dt.datetime.now(dt.UTC)
