"""Bucket use-cases: create a bucket for a workspace, list a workspace's buckets, and
give the key pair a workspace reads its own bucket with (records and rules: `buckets`)."""

from __future__ import annotations

from tuneyard import errors
from tuneyard.core import buckets, ids
from tuneyard.core.ports import Ports

__all__ = ["Buckets"]


class Buckets:
    """Bucket use-cases: create one for a workspace (its key pair shown once), list a
    workspace's buckets, and give the pair a workspace reads its own bucket with."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def create(
        self,
        workspace_id: str,
        name: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> tuple[str, str]:
        """Record a bucket owned by `workspace_id` and make room for it in the store; return
        its (access key, secret key): a fresh pair, or the one given (the keys an
        S3-compatible endpoint issued for it). Raises InvalidRequest or Conflict."""
        buckets.check_name(name)
        if not 1 <= len(workspace_id) <= 64:
            raise errors.InvalidRequest(
                "workspace names must be 1-64 characters", param="workspace"
            )
        if access_key is None and secret_key is None:
            access_key, secret_key = ids.new_access_key_pair()
        for value, param in ((access_key, "access_key"), (secret_key, "secret_key")):
            if (
                not value
                or len(value) > buckets.MAX_KEY
                or not value.isascii()
                or not value.isprintable()
            ):
                raise errors.InvalidRequest(
                    f"{param} must be 1-{buckets.MAX_KEY} printable ASCII characters", param=param
                )
        assert access_key is not None and secret_key is not None
        if self.ports.buckets.get(name) is not None:
            raise errors.Conflict(f"bucket {name} already exists", param="name")
        self.ports.buckets.add(
            buckets.Bucket(
                name=name,
                workspace_id=workspace_id,
                access_key=access_key,
                secret_sealed=self.ports.sealer.seal(secret_key),
                created_at=self.ports.clock.now(),
            )
        )
        self.ports.objects.add_bucket(name)
        return access_key, secret_key

    def list_buckets(self, workspace_id: str) -> list[buckets.Bucket]:
        """The workspace's buckets by name (records only: the secret keys stay sealed)."""
        return self.ports.buckets.owned_by(workspace_id)

    def keys_for(self, workspace_id: str, name: str) -> tuple[str, str] | None:
        """The (access key, secret key) of a bucket the workspace owns; None for a bucket
        that is not there or belongs to another workspace (the caller says "not found")."""
        bucket = self.ports.buckets.get(name)
        if bucket is None or bucket.workspace_id != workspace_id:
            return None
        return bucket.access_key, self.ports.sealer.open(bucket.secret_sealed)
