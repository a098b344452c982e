"""Qianfan v2's IAM bearer tokens: `GET /v1/BCE-BEARER/token?expireInSeconds=N`, signed
with bce-auth-v1, mints the token the SDK's v2 inference sends as `Authorization: Bearer
bce-v3/…` (with an AK/SK pair configured, `ChatCompletion(version=2)` asks for one at
`QIANFAN_IAM_BASE_URL` before its first call).

A token is stateless: `bce-v3/{access key}/{expiry}-{mac}`, the mac an HMAC-SHA256 of
`{access key}/{expiry}` under the pair's secret key. It works until its expiry, and stops
as soon as the pair is revoked (its secret is no longer found).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable

from tuneyard import errors

__all__ = ["MAX_EXPIRE_S", "PATH", "PREFIX", "mint", "verify"]

PATH = "/v1/BCE-BEARER/token"
PREFIX = "bce-v3/"
MAX_EXPIRE_S = 30 * 24 * 3600
"""The longest a token may live (the vendor's limit is unstated)."""


def _mac(secret_key: str, access_key: str, expiry: int) -> str:
    message = f"{access_key}/{expiry}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def mint(access_key: str, secret_key: str, expires_at: dt.datetime) -> str:
    """A token for the pair, good until `expires_at`."""
    expiry = int(expires_at.timestamp())
    return f"{PREFIX}{access_key}/{expiry}-{_mac(secret_key, access_key, expiry)}"


def verify(token: str, *, secret_of: Callable[[str], str | None], now: dt.datetime) -> str:
    """The access key of a valid, unexpired token; InvalidCredentials otherwise (a
    malformed one too), RequestExpired past its expiry."""
    try:
        access_key, rest = token.removeprefix(PREFIX).split("/", 1)
        stamp, mac = rest.split("-", 1)
        expiry = int(stamp)
    except ValueError:
        raise errors.InvalidCredentials("The bearer token is not valid.") from None
    secret = secret_of(access_key)
    if secret is None or not hmac.compare_digest(mac, _mac(secret, access_key, expiry)):
        raise errors.InvalidCredentials("The bearer token is not valid.")
    if now.timestamp() > expiry:
        raise errors.RequestExpired("The bearer token has expired.")
    return access_key
