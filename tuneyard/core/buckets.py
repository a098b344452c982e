"""Object-storage buckets: which workspace owns a bucket, and the key pair that opens it.

A bucket belongs to one workspace and has one access/secret key pair (the secret sealed at
rest, like an AK/SK pair's). A request that names a bucket either presents that pair
(CLOVA's `trainingDatasetAccessKey`/`SecretKey`, checked by the store: tuneyard's local
store checks it here, an S3-compatible endpoint checks it itself) or acts in the owning
workspace (Qianfan's `Bos` paths, read with the bucket's own pair). Anything else reads as
a missing object, so a caller cannot tell another workspace's bucket from no bucket.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import re
from datetime import datetime
from typing import TYPE_CHECKING

from tuneyard import errors
from tuneyard.core import ids

if TYPE_CHECKING:  # the service module builds Buckets, so it is imported for types only
    from tuneyard.core.ports import Sealer
    from tuneyard.core.service import Ports

__all__ = ["MAX_PATH_BYTES", "Bucket", "Buckets", "check_name", "check_path", "unlocks"]

MAX_PATH_BYTES = 1024
"""The longest object key (or bucket name) a request may name, in UTF-8 bytes (S3's limit)."""

_MAX_KEY = 128
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclasses.dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket record: its owner and its key pair (the secret key sealed)."""

    name: str
    workspace_id: str
    access_key: str
    secret_sealed: str
    created_at: datetime


def check_name(name: str) -> None:
    """Raise InvalidRequest unless `name` follows S3's bucket-name rules: 3-63 lowercase
    letters, digits, dots and hyphens, a letter or digit at each end, no `..`, not an IP
    address, no reserved prefix (`xn--`) or suffix (`-s3alias`, `--ol-s3`)."""
    problem = None
    if not _NAME.fullmatch(name):
        problem = "3-63 lowercase letters, digits, dots and hyphens, a letter or digit at each end"
    elif ".." in name:
        problem = "no two dots in a row"
    elif name.startswith("xn--") or name.endswith(("-s3alias", "--ol-s3")):
        problem = "not a reserved prefix (xn--) or suffix (-s3alias, --ol-s3)"
    elif _is_ip(name):
        problem = "not an IP address"
    if problem is not None:
        raise errors.InvalidRequest(f"bucket name {name!r} must be {problem}", param="name")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def check_path(value: str, *, param: str | None = None, what: str = "object path") -> None:
    """Raise InvalidRequest (naming `param`) for an object path or bucket name no store can
    hold: a NUL or other control character, text that is not UTF-8, or over 1,024 bytes."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise errors.InvalidRequest(f"the {what} is not valid UTF-8", param=param) from None
    if size > MAX_PATH_BYTES:
        raise errors.InvalidRequest(
            f"the {what} is {size} bytes; at most {MAX_PATH_BYTES} are allowed", param=param
        )
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise errors.InvalidRequest(f"the {what} has a control character", param=param)


def unlocks(bucket: Bucket, sealer: Sealer, access_key: str, secret_key: str) -> bool:
    """Whether the pair is the bucket's own (both halves compared in constant time)."""
    same_access = hmac.compare_digest(_raw(bucket.access_key), _raw(access_key))
    same_secret = hmac.compare_digest(_raw(sealer.open(bucket.secret_sealed)), _raw(secret_key))
    return same_access & same_secret


def _raw(text: str) -> bytes:
    """Bytes to compare; any text a request can carry (even a lone surrogate) encodes."""
    return text.encode("utf-8", "surrogatepass")


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
        check_name(name)
        if not 1 <= len(workspace_id) <= 64:
            raise errors.InvalidRequest(
                "workspace names must be 1-64 characters", param="workspace"
            )
        if access_key is None and secret_key is None:
            access_key, secret_key = ids.new_access_key_pair()
        for value, param in ((access_key, "access_key"), (secret_key, "secret_key")):
            if not value or len(value) > _MAX_KEY or not value.isascii() or not value.isprintable():
                raise errors.InvalidRequest(
                    f"{param} must be 1-{_MAX_KEY} printable ASCII characters", param=param
                )
        assert access_key is not None and secret_key is not None
        if self.ports.buckets.get(name) is not None:
            raise errors.Conflict(f"bucket {name} already exists", param="name")
        self.ports.buckets.add(
            Bucket(
                name=name,
                workspace_id=workspace_id,
                access_key=access_key,
                secret_sealed=self.ports.sealer.seal(secret_key),
                created_at=self.ports.clock.now(),
            )
        )
        self.ports.objects.add_bucket(name)
        return access_key, secret_key

    def list_buckets(self, workspace_id: str) -> list[Bucket]:
        """The workspace's buckets by name (records only: the secret keys stay sealed)."""
        return self.ports.buckets.owned_by(workspace_id)

    def keys_for(self, workspace_id: str, name: str) -> tuple[str, str] | None:
        """The (access key, secret key) of a bucket the workspace owns; None for a bucket
        that is not there or belongs to another workspace (the caller says "not found")."""
        bucket = self.ports.buckets.get(name)
        if bucket is None or bucket.workspace_id != workspace_id:
            return None
        return bucket.access_key, self.ports.sealer.open(bucket.secret_sealed)
