"""Object-storage bucket records: which workspace owns a bucket, the key pair that opens
it, and the rules for bucket names and object paths (the use-cases: `bucket_admin`).

A bucket belongs to one workspace and has one access/secret key pair (the secret sealed at
rest, like an AK/SK pair's). A request that names a bucket either presents that pair
(checked by the store: tuneyard's local store checks it here, an S3-compatible endpoint
checks it itself) or acts in the owning workspace (read with the bucket's own pair).
Anything else reads as a missing object, so a caller cannot tell another workspace's
bucket from no bucket.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import re
from datetime import datetime

from tuneyard import errors

__all__ = ["MAX_KEY", "MAX_PATH_BYTES", "Bucket", "check_name", "check_path", "unlocks"]

MAX_PATH_BYTES = 1024
"""The longest object key (or bucket name) a request may name, in UTF-8 bytes (S3's limit)."""

MAX_KEY = 128
"""The longest access or secret key a bucket may have."""
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


def unlocks(bucket: Bucket, secret: str, access_key: str, secret_key: str) -> bool:
    """Whether the pair is the bucket's own, `secret` being its opened secret key (both
    halves compared in constant time)."""
    same_access = hmac.compare_digest(_raw(bucket.access_key), _raw(access_key))
    same_secret = hmac.compare_digest(_raw(secret), _raw(secret_key))
    return same_access & same_secret


def _raw(text: str) -> bytes:
    """Bytes to compare; any text a request can carry (even a lone surrogate) encodes."""
    return text.encode("utf-8", "surrogatepass")
