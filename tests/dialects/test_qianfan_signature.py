"""bce-auth-v1 verification against signatures the qianfan 0.4.12.3 SDK computed itself
(docs/sdk-notes/qianfan-0.4.12.3.md, worked example)."""

from __future__ import annotations

import datetime as dt

import pytest

from tuneyard import errors
from tuneyard.api.dialects.qianfan import signature

AK, SK = "AKIDEXAMPLE00000000000000000000", "SKEXAMPLE000000000000000000000000"
SIGNED_AT = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)  # unix 1700000000
HEADERS = {
    "Content-Type": "application/json",
    "Host": "127.0.0.1:18080",
    "request-source": "qianfan_py_sdk_v0.4.12.3",
    "x-bce-date": "2023-11-14T22:13:20Z",
    "User-Agent": "python-requests/2.32",  # sent, not signed
}
SDK_SIGNATURE = "12f671f38604e05a07fc0cb511cd94d3dc6ca03b77654f9c4da83fc51c958f3d"


def header(
    signed: str = "host;content-type;x-bce-date;request-source", sig: str = SDK_SIGNATURE
) -> str:
    return f"bce-auth-v1/{AK}/2023-11-14T22:13:20Z/300/{signed}/{sig}"


def check(
    auth: str | None,
    *,
    now: dt.datetime = SIGNED_AT,
    query: list[tuple[str, str]] | None = None,
    secret: str = SK,
) -> str:
    return signature.verify(
        auth,
        method="POST",
        path="/v2/finetuning",
        query=query or [("Action", "DescribeFineTuningTask")],
        headers=HEADERS,
        secret_of=lambda ak: secret if ak == AK else None,
        now=now,
    )


def test_the_sdk_signature_verifies_in_any_header_order() -> None:
    assert check(header()) == AK
    assert check(header("request-source;host;x-bce-date;content-type")) == AK
    assert (
        check(
            header("x-bce-date;content-type;host;request-source"),
            now=SIGNED_AT + dt.timedelta(seconds=299),
        )
        == AK
    )


def test_the_canonical_request_matches_the_sdk() -> None:
    canonical = signature.canonical_request(
        "POST",
        "/v2/finetuning",
        [("Action", "DescribeFineTuningTask")],
        HEADERS,
        ["request-source", "host", "x-bce-date", "content-type"],
    )
    assert canonical == (
        "POST\n/v2/finetuning\nAction=DescribeFineTuningTask\ncontent-type:application%2Fjson\n"
        "host:127.0.0.1%3A18080\nrequest-source:qianfan_py_sdk_v0.4.12.3\n"
        "x-bce-date:2023-11-14T22%3A13%3A20Z"
    )


def test_query_encoding_and_sorting_match_the_sdk() -> None:
    query = [("Action", "DescribeFineTuningTask"), ("b", "x/y z"), ("a", ""), ("Z~._-", "中")]
    canonical = signature.canonical_request("POST", "/v2/finetuning", query, HEADERS, ["host"])
    assert (
        canonical.split("\n")[2] == "Action=DescribeFineTuningTask&Z~._-=%E4%B8%AD&a=&b=x%2Fy%20z"
    )
    sdk = "8e177885498a5f52689b7ac1130f4afd7813815b4c6eae933226fbcae9c5d516"
    assert check(header(sig=sdk), query=query) == AK


LATER, EARLIER = SIGNED_AT + dt.timedelta(seconds=301), SIGNED_AT - dt.timedelta(seconds=301)
REFUSALS = {
    "wrong-sk": (header(), SIGNED_AT, "WRONG", errors.SignatureMismatch),
    "wrong-signature": (header(sig="0" * 64), SIGNED_AT, SK, errors.SignatureMismatch),
    "fewer-headers": (header("host;content-type"), SIGNED_AT, SK, errors.SignatureMismatch),
    "unknown-ak": (header().replace(AK, "AKNOPE"), SIGNED_AT, SK, errors.InvalidCredentials),
    "expired": (header(), LATER, SK, errors.RequestExpired),
    "future": (header(), EARLIER, SK, errors.RequestExpired),
    "missing": (None, SIGNED_AT, SK, errors.MalformedCredentials),
    "bearer": ("Bearer nv-123", SIGNED_AT, SK, errors.MalformedCredentials),
    "bad-expiration": (
        header().replace("/300/", "/soon/"),
        SIGNED_AT,
        SK,
        errors.MalformedCredentials,
    ),
    "bad-time": (
        header().replace("2023-11-14T22:13:20Z", "now"),
        SIGNED_AT,
        SK,
        errors.MalformedCredentials,
    ),
}


@pytest.mark.parametrize(("auth", "now", "secret", "error"), REFUSALS.values(), ids=REFUSALS)
def test_refusals(auth: str | None, now: dt.datetime, secret: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        check(auth, now=now, secret=secret)


def test_a_short_expiration_ends_before_the_skew_window() -> None:
    short = header().replace("/300/", "/60/")
    with pytest.raises(errors.RequestExpired):
        check(short, now=SIGNED_AT + dt.timedelta(seconds=61))
