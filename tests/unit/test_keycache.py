"""Credential lookups are remembered for a bounded time: a busy server asks the store once
per key per `keycache.TTL_SECONDS`, and a key revoked in the store stops working within
that bound."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.support.world import ManualClock, make_ports
from tuneyard import errors
from tuneyard.core import keycache
from tuneyard.core.credentials import Credentials, hash_key
from tuneyard.core.ports import ApiKey, Ports


class _Counting:
    """The memory key store, counting its lookups; `revoke` as an operator would."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.lookups = 0

    def add(self, key: ApiKey) -> None:
        self.inner.add(key)  # type: ignore[attr-defined]

    def find_by_hash(self, key_hash: str) -> ApiKey | None:
        self.lookups += 1
        return self.inner.find_by_hash(key_hash)  # type: ignore[attr-defined, no-any-return]

    def find_by_access_key(self, access_key: str) -> ApiKey | None:
        self.lookups += 1
        return self.inner.find_by_access_key(access_key)  # type: ignore[attr-defined, no-any-return]

    def revoke(self, key_hash: str, clock: ManualClock) -> None:
        stored = self.inner._keys  # type: ignore[attr-defined]
        stored[key_hash] = dataclasses.replace(stored[key_hash], revoked_at=clock.now())


@pytest.fixture
def world(tmp_path: Path) -> tuple[Ports, _Counting, ManualClock]:
    clock = ManualClock()
    ports = make_ports("memory", tmp_path, clock)
    keys = _Counting(ports.keys)
    return dataclasses.replace(ports, keys=keys), keys, clock  # type: ignore[arg-type]


def test_a_key_is_looked_up_once_per_ttl(world: tuple[Ports, _Counting, ManualClock]) -> None:
    ports, keys, clock = world
    credentials = Credentials(ports)
    key = credentials.create_key("team-a")
    assert credentials.remembered_caller(key) is None  # not looked up yet
    for _ in range(50):
        assert credentials.caller(key).workspace_id == "team-a"
    assert keys.lookups == 1
    remembered = credentials.remembered_caller(key)
    assert remembered is not None and remembered.workspace_id == "team-a"
    clock.advance(keycache.TTL_SECONDS)
    assert credentials.remembered_caller(key) is None
    credentials.caller(key)
    assert keys.lookups == 2


def test_a_revoked_key_stops_working_within_the_ttl(
    world: tuple[Ports, _Counting, ManualClock],
) -> None:
    ports, keys, clock = world
    credentials = Credentials(ports)
    key = credentials.create_key("team-a")
    credentials.caller(key)
    keys.revoke(hash_key(key), clock)  # in the store, e.g. by another replica
    clock.advance(keycache.TTL_SECONDS / 2)
    credentials.caller(key)  # still remembered: within the bound
    clock.advance(keycache.TTL_SECONDS / 2)
    with pytest.raises(errors.InvalidCredentials):
        credentials.caller(key)
    assert credentials.remembered_caller(key) is None


def test_unknown_keys_are_never_remembered(world: tuple[Ports, _Counting, ManualClock]) -> None:
    ports, keys, _ = world
    credentials = Credentials(ports)
    for _ in range(3):
        with pytest.raises(errors.InvalidCredentials):
            credentials.caller("nv-not-a-key")
    assert keys.lookups == 3
    with pytest.raises(errors.Unauthenticated):
        credentials.remembered_caller(None)


def test_a_remembered_key_still_checks_the_workspace(
    world: tuple[Ports, _Counting, ManualClock],
) -> None:
    ports, _, _ = world
    credentials = Credentials(ports)
    key = credentials.create_key("team-a", workspaces=["team-b"])
    credentials.caller(key)
    remembered = credentials.remembered_caller(key, "team-b")
    assert remembered is not None and remembered.workspace_id == "team-b"
    with pytest.raises(errors.Forbidden):
        credentials.remembered_caller(key, "team-c")


def test_access_key_pairs_are_remembered_too(world: tuple[Ports, _Counting, ManualClock]) -> None:
    ports, keys, _ = world
    credentials = Credentials(ports)
    access_key, secret_key = credentials.create_access_key("team-a")
    for _ in range(5):
        assert credentials.access_secret(access_key) == secret_key
        assert credentials.caller_by_access_key(access_key).workspace_id == "team-a"
    assert keys.lookups == 1
    with pytest.raises(errors.InvalidCredentials):
        credentials.caller(secret_key)  # a pair's secret is still no bearer key


def test_the_cache_holds_at_most_max_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keycache, "MAX_ENTRIES", 3)
    clock = ManualClock()
    cache = keycache.KeyCache(clock)
    record = ApiKey("k", "ws", "nv-", "h", clock.now())
    for name in "abcd":
        cache.put(name, record)
    assert [cache.get(n) is not None for n in "abcd"] == [False, True, True, True]
