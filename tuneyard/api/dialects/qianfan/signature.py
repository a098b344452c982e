"""bce-auth-v1: Baidu Cloud's request signature (spec §3.5), verified the way the SDK signs.

    Authorization: bce-auth-v1/{ak}/{timestamp}/{expiration}/{signedHeaders}/{signature}
    signing key    = hex(HMAC-SHA256(SK, "bce-auth-v1/{ak}/{timestamp}/{expiration}"))
    canonical      = METHOD \\n URI \\n sorted(enc(k)=enc(v)) joined by & \\n
                     sorted(enc(lower(name)):enc(trim(value))) for the signed headers, joined by \\n
    signature      = hex(HMAC-SHA256(signing key as text, canonical))

`signedHeaders` is taken from the request itself in whatever order it comes (the Python SDK
joins a set); headers with blank values are left out; an empty list means the defaults
(host, content-length, content-type, content-md5 and every x-bce-* header). Pure functions:
the caller looks the secret key up and maps the typed errors to the vendor's codes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping

from tuneyard import errors
from tuneyard.api import params

__all__ = [
    "Authorization",
    "MAX_SKEW_S",
    "canonical_request",
    "parse",
    "sign",
    "verify",
]

MAX_SKEW_S = 300
"""How far a request's timestamp may be from the server's clock, either way (spec §7)."""
MAX_EXPIRATION_S = 7 * 24 * 3600
"""The longest validity a signature may claim (the SDK signs for 1800 s)."""

_PREFIX = "bce-auth-v1"
_DEFAULT_HEADERS = ("host", "content-length", "content-type", "content-md5")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_ACCESS_KEY = re.compile(r"[!-~]{1,64}")


@dataclasses.dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of an `Authorization: bce-auth-v1/…` header."""

    access_key: str
    timestamp: str
    expiration_s: int
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def signed_at(self) -> dt.datetime:
        """The signing time (UTC)."""
        return dt.datetime.strptime(self.timestamp, _TIME_FORMAT).replace(tzinfo=dt.UTC)


def parse(header: str | None) -> Authorization:
    """Split the header; a missing or garbled one is MalformedCredentials."""
    if not header:
        raise errors.MalformedCredentials("The Authorization header is missing.")
    parts = header.strip().split("/")
    if len(parts) != 6 or parts[0] != _PREFIX:
        raise errors.MalformedCredentials(
            "The Authorization header is not bce-auth-v1/{ak}/{timestamp}/{expiration}/"
            "{signedHeaders}/{signature}."
        )
    _, access_key, timestamp, expiration, signed, signature = parts
    try:
        if not _TIMESTAMP.fullmatch(timestamp):
            raise ValueError(timestamp)
        dt.datetime.strptime(timestamp, _TIME_FORMAT)
        seconds = params.integer(expiration, low=1, high=MAX_EXPIRATION_S)
    except ValueError:
        raise errors.MalformedCredentials(
            "The Authorization header has a bad timestamp or an expiration that is not "
            f"1-{MAX_EXPIRATION_S} seconds."
        ) from None
    if not _ACCESS_KEY.fullmatch(access_key) or not signature:
        raise errors.MalformedCredentials("The Authorization header is incomplete.")
    names = tuple(n.strip().lower() for n in signed.split(";") if n.strip())
    return Authorization(access_key, timestamp, seconds, names, signature.lower())


def _encode(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
) -> str:
    """The canonical request (spec §3.5); `headers` keys are matched case-insensitively."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = list(signed_headers) or [
        n for n in lowered if n in _DEFAULT_HEADERS or n.startswith("x-bce-")
    ]
    canonical_query = "&".join(
        sorted(f"{_encode(k)}={_encode(v)}" for k, v in query if k.lower() != "authorization")
    )
    canonical_headers = "\n".join(
        sorted(
            f"{_encode(name)}:{_encode(value.strip())}"
            for name in names
            if (value := lowered.get(name, "")).strip()
        )
    )
    uri = urllib.parse.quote(path or "/", safe="/-_.~")
    return "\n".join([method.upper(), uri, canonical_query, canonical_headers])


def sign(secret_key: str, auth: Authorization, canonical: str) -> str:
    """The hex signature of `canonical` under `secret_key` for this header's prefix."""
    prefix = f"{_PREFIX}/{auth.access_key}/{auth.timestamp}/{auth.expiration_s}"
    signing_key = hmac.new(secret_key.encode(), prefix.encode(), hashlib.sha256).hexdigest()
    return hmac.new(signing_key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def verify(
    header: str | None,
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    secret_of: Callable[[str], str | None],
    now: dt.datetime,
) -> str:
    """The access key of a correctly signed, current request.

    Raises MalformedCredentials (no or garbled header), RequestExpired (signed more than
    MAX_SKEW_S from now, or past its own expiration), InvalidCredentials (unknown access
    key: `secret_of` returned None) or SignatureMismatch (compared in constant time).
    """
    auth = parse(header)
    signed_at = auth.signed_at
    if abs((now - signed_at).total_seconds()) > MAX_SKEW_S or now > signed_at + dt.timedelta(
        seconds=auth.expiration_s
    ):
        raise errors.RequestExpired(
            f"The request was signed at {auth.timestamp} for {auth.expiration_s} s; "
            f"the server's time is {now.astimezone(dt.UTC).strftime(_TIME_FORMAT)}."
        )
    secret = secret_of(auth.access_key)
    if secret is None:
        raise errors.InvalidCredentials("The access key ID does not exist.")
    expected = sign(
        secret, auth, canonical_request(method, path, query, headers, auth.signed_headers)
    )
    if not hmac.compare_digest(expected, auth.signature):
        raise errors.SignatureMismatch(
            "The request signature does not match; check the secret key and signing method."
        )
    return auth.access_key
