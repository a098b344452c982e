"""A short-lived memory of credential lookups, so that a busy server does not ask the
database who a key is on every request.

Only live credentials are remembered (an unknown or revoked key is looked up again every
time), each for at most `TTL_SECONDS`: a key revoked in the database, by this replica or
any other, stops working within that bound.
"""

from __future__ import annotations

import datetime as dt
import threading

from tuneyard.core.ports import ApiKey, Clock

__all__ = ["MAX_ENTRIES", "REFRESH_AHEAD_SECONDS", "TTL_SECONDS", "KeyCache"]

TTL_SECONDS = 2.0
"""How long a looked-up credential is trusted without asking the store again: the bound
on how late a revocation takes effect."""
REFRESH_AHEAD_SECONDS = 0.5
"""A record this close to its end is due for a refresh (see `KeyCache.due`): read again
while it is still trusted, a busy key never lapses, so the requests in flight never all
wait on the store at once."""
MAX_ENTRIES = 4096
"""Credentials remembered at once; past this the oldest is forgotten first."""


class KeyCache:
    """Live credential records by lookup (a bearer key's hash, an access key ID), each
    trusted for TTL_SECONDS after it was read from the store."""

    def __init__(self, clock: Clock, *, ttl_seconds: float = TTL_SECONDS) -> None:
        self.clock = clock
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.ahead = dt.timedelta(seconds=min(REFRESH_AHEAD_SECONDS, ttl_seconds / 2))
        self._entries: dict[str, tuple[ApiKey, dt.datetime]] = {}
        self._lock = threading.Lock()

    def get(self, lookup: str) -> ApiKey | None:
        """The remembered record, or None when there is none or it is too old."""
        entry = self._entries.get(lookup)
        if entry is None:
            return None
        record, expires = entry
        if self.clock.now() >= expires:
            with self._lock:
                self._entries.pop(lookup, None)
            return None
        return record

    def due(self, lookup: str) -> bool:
        """Whether a remembered record is within REFRESH_AHEAD_SECONDS of its end (or
        past it): time to read it again, while it is still used."""
        entry = self._entries.get(lookup)
        if entry is None:
            return False
        return self.clock.now() >= entry[1] - self.ahead

    def put(self, lookup: str, record: ApiKey) -> None:
        """Remember a live record just read from the store."""
        expires = self.clock.now() + self.ttl
        with self._lock:
            self._entries.pop(lookup, None)
            self._entries[lookup] = (record, expires)
            while len(self._entries) > MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]

    def forget(self, lookup: str) -> None:
        """Drop a record (its key was just revoked here)."""
        with self._lock:
            self._entries.pop(lookup, None)
