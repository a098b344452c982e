"""Credentials: bearer keys and AK/SK pairs (signed requests), and who a request acts as."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

from tuneyard import errors
from tuneyard.core import ids, keycache
from tuneyard.core.ports import ApiKey, Ports

__all__ = ["Caller", "Credentials", "hash_key"]


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the workspace they act in, their main account, and the account or
    sub-account acting (the same as `account` for a main account's key)."""

    workspace_id: str
    account: str
    actor: str


def hash_key(key: str) -> str:
    """The stored form of an API key (keys are 128-bit random, so a plain SHA-256 suffices)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Credentials:
    """Mint keys and pairs (only a key's hash, and a pair's sealed secret, are stored) and
    resolve a request's credentials to the workspace and account it acts as.

    Live records looked up are remembered for `keycache.TTL_SECONDS`: a key revoked in the
    store stops working within that bound."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        self.cache = keycache.KeyCache(ports.clock)

    def create_key(
        self,
        workspace_id: str,
        *,
        prefix: str = "nv-",
        account: str | None = None,
        subaccount: str | None = None,
        workspaces: Iterable[str] = (),
    ) -> str:
        """Mint a key; only its hash is stored, the key is returned once.

        The key works in `workspace_id` (its default) and in `workspaces`, for `account`
        (the main account, default: the workspace's name) or its `subaccount`.
        """
        key = ids.new_api_key(prefix)
        self._add_key(
            workspace_id,
            workspaces,
            account,
            subaccount,
            key_prefix=key[: len(prefix) + 4],
            key_hash=hash_key(key),
        )
        return key

    def create_access_key(
        self,
        workspace_id: str,
        *,
        account: str | None = None,
        subaccount: str | None = None,
        workspaces: Iterable[str] = (),
    ) -> tuple[str, str]:
        """Mint an AK/SK pair (signed requests) for a workspace: (access key ID, secret key).

        The secret key is stored sealed (it must be recoverable to check signatures) and
        returned only this once; the rest is as `create_key`.
        """
        access_key, secret_key = ids.new_access_key_pair()
        self._add_key(
            workspace_id,
            workspaces,
            account,
            subaccount,
            key_prefix=access_key[:8],
            key_hash=hash_key(secret_key),
            access_key=access_key,
            secret_sealed=self.ports.sealer.seal(secret_key),
        )
        return access_key, secret_key

    def _add_key(
        self,
        workspace_id: str,
        workspaces: Iterable[str],
        account: str | None,
        subaccount: str | None,
        *,
        key_prefix: str,
        key_hash: str,
        access_key: str | None = None,
        secret_sealed: str | None = None,
    ) -> None:
        """Store a credential (a bearer key, or an AK/SK pair with its sealed secret) after
        checking the workspace and account names."""
        self.ports.keys.add(
            ApiKey(
                id=ids.new_request_id()[:16],
                workspace_id=workspace_id,
                key_prefix=key_prefix,
                key_hash=key_hash,
                created_at=self.ports.clock.now(),
                account=account,
                subaccount=subaccount,
                workspaces=_key_workspaces(workspace_id, workspaces, account, subaccount),
                access_key=access_key,
                secret_sealed=secret_sealed,
            )
        )

    def _by_hash(self, key: str) -> ApiKey | None:
        """The live bearer key's record (remembered a while), or None."""
        key_hash = hash_key(key)
        record = self.cache.get(key_hash)
        if record is None:
            record = self.ports.keys.find_by_hash(key_hash)
            if record is None or record.revoked_at is not None or record.access_key is not None:
                return None  # an SK is not a bearer key
            self.cache.put(key_hash, record)
        return record

    def _by_access_key(self, access_key: str) -> ApiKey | None:
        """The live AK/SK pair's record (remembered a while), or None."""
        lookup = "ak:" + access_key
        record = self.cache.get(lookup)
        if record is None:
            record = self.ports.keys.find_by_access_key(access_key)
            if record is None or record.revoked_at is not None:
                return None
            self.cache.put(lookup, record)
        return record

    def access_secret(self, access_key: str) -> str | None:
        """The secret key of a live AK/SK pair, to check a signature with; None if unknown."""
        record = self._by_access_key(access_key)
        if record is None or record.secret_sealed is None:
            return None
        return self.ports.sealer.open(record.secret_sealed)

    def authenticate(self, key: str | None) -> str:
        """The workspace of a bearer key; raises Unauthenticated / InvalidCredentials."""
        return self.caller(key).workspace_id

    def caller(self, key: str | None, workspace: str | None = None) -> Caller:
        """Who a bearer key acts as, in its own workspace or in `workspace` (which must be
        one of the key's); raises Unauthenticated, InvalidCredentials or Forbidden."""
        if not key:
            raise errors.Unauthenticated()
        record = self._by_hash(key)
        if record is None:
            raise errors.InvalidCredentials()
        return self._acting(record, workspace)

    def bearer_due(self, key: str) -> bool:
        """Whether a bearer key's remembered record is due for `refresh_bearer`."""
        return self.cache.due(hash_key(key))

    def refresh_bearer(self, key: str) -> None:
        """Read a bearer key's record from the store again: remembered afresh while it is
        live, forgotten once it is revoked or gone (it then fails as any unknown key)."""
        key_hash = hash_key(key)
        record = self.ports.keys.find_by_hash(key_hash)
        if record is None or record.revoked_at is not None or record.access_key is not None:
            self.cache.forget(key_hash)
        else:
            self.cache.put(key_hash, record)

    def bearer_records(self, keys: Iterable[str]) -> dict[str, ApiKey]:
        """The live records of bearer keys, by key (an unknown, revoked or SK key has
        none), each remembered as `caller` remembers it: for requests whose keys the
        memory had forgotten, looked up together (see `tuneyard.api.deps`)."""
        found = {key: self._by_hash(key) for key in keys}
        return {key: record for key, record in found.items() if record is not None}

    def remembered_caller(self, key: str | None, workspace: str | None = None) -> Caller | None:
        """`caller` without any I/O: who a bearer key acts as if its record is remembered,
        None when the store must be asked (raises as `caller` does otherwise)."""
        if not key:
            raise errors.Unauthenticated()
        record = self.cache.get(hash_key(key))
        return None if record is None else self._acting(record, workspace)

    def caller_by_access_key(self, access_key: str, workspace: str | None = None) -> Caller:
        """Who an AK/SK pair (its signature already checked) acts as."""
        record = self._by_access_key(access_key)
        if record is None:
            raise errors.InvalidCredentials("The access key ID does not exist.")
        return self._acting(record, workspace)

    def session_record(self, lookup: str) -> ApiKey | None:
        """The live record a console session signed in with, by its stored lookup: a
        bearer key's hash (`key:<sha256>`) or an AK/SK pair's ID (`ak:<id>`); None once
        it is revoked or unknown (remembered as `caller`'s lookups are)."""
        kind, _, value = lookup.partition(":")
        if kind == "ak":
            return self._by_access_key(value)
        if kind != "key":
            return None
        record = self.cache.get(value)
        if record is None:
            record = self.ports.keys.find_by_hash(value)
            if record is None or record.revoked_at is not None or record.access_key is not None:
                return None
            self.cache.put(value, record)
        return record

    def acting(self, record: ApiKey, workspace: str | None = None) -> Caller:
        """Who a live credential record acts as, in its own workspace or in `workspace`
        (one of the record's, else Forbidden)."""
        return self._acting(record, workspace)

    def _acting(self, record: ApiKey, workspace: str | None) -> Caller:
        allowed = record.workspaces or (record.workspace_id,)
        if workspace and workspace not in allowed:
            raise errors.Forbidden(f"The API key has no access to workspace {workspace}.")
        return Caller(
            workspace_id=workspace or record.workspace_id,
            account=record.main_account,
            actor=record.actor,
        )


def _key_workspaces(
    workspace_id: str, others: Iterable[str], account: str | None, subaccount: str | None
) -> tuple[str, ...]:
    """A key's workspaces, its own first; every name (and the account names) checked."""
    names = (workspace_id, *(w for w in others if w != workspace_id))
    for name, param in [
        *((n, "workspace") for n in names),
        (account, "account"),
        (subaccount, "subaccount"),
    ]:
        if name is not None and not 1 <= len(name) <= 64:
            raise errors.InvalidRequest(f"{param} names must be 1-64 characters", param=param)
    return names
