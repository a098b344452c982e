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
    # a refresh ahead of the end (a key in use) forgets a key revoked meanwhile at once
    other = credentials.create_key("team-a")
    credentials.caller(other)
    keys.revoke(hash_key(other), clock)
    credentials.refresh_bearer(other)
    assert credentials.remembered_caller(other) is None


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


def test_a_record_is_due_for_a_refresh_just_before_it_lapses(
    world: tuple[Ports, _Counting, ManualClock],
) -> None:
    ports, keys, clock = world
    credentials = Credentials(ports)
    key = credentials.create_key("team-a")
    assert not credentials.bearer_due(key)  # not remembered: nothing to refresh
    credentials.caller(key)
    assert not credentials.bearer_due(key)
    clock.advance(keycache.TTL_SECONDS - keycache.REFRESH_AHEAD_SECONDS)
    assert credentials.bearer_due(key)
    credentials.refresh_bearer(key)  # read again while still trusted
    assert keys.lookups == 2
    assert not credentials.bearer_due(key)
    clock.advance(keycache.REFRESH_AHEAD_SECONDS + 0.1)  # past the first read's end
    assert credentials.remembered_caller(key) is not None


def test_gets_waiting_on_a_lapsed_key_share_one_lookup(tmp_path: Path) -> None:
    """When a remembered key lapses under load, the requests in flight ask the store once
    together (each asking for itself stalled the server every TTL), and a key in use is
    refreshed before it lapses."""
    import asyncio

    import httpx

    from tests.support.world import World
    from tuneyard.api.app import create_app
    from tuneyard.scheduler.executors.fake import FakeExecutor
    from tuneyard.settings import Settings

    clock = ManualClock()
    ports = make_ports("sqlite", tmp_path, clock)
    keys = _Counting(ports.keys)
    ports = dataclasses.replace(ports, keys=keys, inline_reads=False)  # type: ignore[arg-type]
    world = World(ports, tmp_path, FakeExecutor())
    key = world.service.credentials.create_key("ws")
    app = create_app(Settings(data_dir=tmp_path), world.service)
    bearer = {"Authorization": f"Bearer {key}"}

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def burst() -> None:
                answers = await asyncio.gather(
                    *(client.get("/tuning/v2/tasks", headers=bearer) for _ in range(20))
                )
                assert {a.status_code for a in answers} == {200}

            await burst()
            assert keys.lookups == 1  # 20 requests, the key unknown yet: one lookup
            clock.advance(keycache.TTL_SECONDS)
            await burst()
            assert keys.lookups == 2  # lapsed: one lookup again
            clock.advance(keycache.TTL_SECONDS - keycache.REFRESH_AHEAD_SECONDS / 2)
            await burst()  # due: served from memory, one refresh in the background
            credentials = world.service.credentials
            for _ in range(100):
                if not credentials.bearer_due(key):  # read again and remembered afresh
                    break
                await asyncio.sleep(0.02)
            assert keys.lookups == 3
            clock.advance(keycache.REFRESH_AHEAD_SECONDS)  # past the lapsed read's end
            assert credentials.remembered_caller(key) is not None
            await burst()
            assert keys.lookups == 3

    asyncio.run(main())
