"""Signing in and out of the console, the session cookie, CSRF, and switching workspace."""

from __future__ import annotations

import dataclasses

import pytest

from tests.console.conftest import HTML, Console, hidden
from tuneyard.api.console import session
from tuneyard.core.credentials import hash_key


def test_a_page_without_a_session_redirects_to_sign_in(console: Console) -> None:
    page = console.client.get("/console/jobs?status=running", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/signin?next=%2Fconsole%2Fjobs%3Fstatus%3Drunning"
    script = console.client.get("/console/jobs.json")  # a script gets a JSON 401, not a page
    assert script.status_code == 401 and script.json()["error"]["code"] == "unauthenticated"


def test_signing_in_with_a_key_sets_a_strict_http_only_cookie_and_goes_on(
    console: Console,
) -> None:
    form = console.client.get("/console/signin?next=/console/compare", headers=HTML)
    answer = console.client.post(
        "/console/signin",
        data={
            "csrf": hidden(form.text),
            "next": hidden(form.text, "next"),
            "api_key": console.keys["ws"],
        },
        headers=HTML,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/compare"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(session.COOKIE))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # plain HTTP here
    assert console.keys["ws"] not in cookie  # the key itself is never in the cookie
    jobs = console.client.get("/console/jobs", headers=HTML)
    assert jobs.status_code == 200 and 'id="workspace-name"' in jobs.text


def test_the_cookie_is_secure_over_https(console: Console) -> None:
    browser = console.new_client("https://testserver")
    answer = console.sign_in(browser, api_key=console.keys["ws"])
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(session.COOKIE))
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_an_access_key_pair_signs_in_and_a_wrong_secret_does_not(console: Console) -> None:
    ak, sk = console.world.service.credentials.create_access_key("ws")
    wrong = console.sign_in(access_key=ak, secret_key=sk[:-1] + ("x" if sk[-1] != "x" else "y"))
    assert wrong.status_code == 401 and 'id="signin-error"' in wrong.text
    assert session.COOKIE not in console.client.cookies
    right = console.sign_in(access_key=ak, secret_key=sk)
    assert right.status_code == 303
    assert console.client.get("/console/jobs", headers=HTML).status_code == 200


def test_an_unknown_key_is_refused(console: Console) -> None:
    refused = console.sign_in(api_key="nv-not-a-key")
    assert refused.status_code == 401 and "signin-error" in refused.text
    assert console.client.get("/console/jobs", headers=HTML).status_code == 303


def test_sign_in_needs_its_form_token(console: Console) -> None:
    forged = console.client.post(
        "/console/signin", data={"api_key": console.keys["ws"]}, headers=HTML
    )
    assert forged.status_code == 403
    assert session.COOKIE not in forged.headers.get("set-cookie", "")


def test_sign_out_ends_the_session(console: Console) -> None:
    browser = console.signed_in()
    token = console.csrf(browser)
    out = browser.post("/console/signout", data={"csrf": token}, headers=HTML)
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert browser.get("/console/jobs", headers=HTML).status_code == 303


def test_a_change_without_the_csrf_token_is_refused(console: Console) -> None:
    browser = console.signed_in()
    job = console.job()
    for path in ("/console/signout", f"/console/jobs/{job.id}/cancel", "/console/workspace"):
        refused = browser.post(path, data={"workspace": "ws"}, headers=HTML)
        assert refused.status_code == 403, path
        assert "CSRF" in refused.text
        wrong = browser.post(path, data={"csrf": "nope"}, headers=HTML)
        assert wrong.status_code == 403, path
    assert console.world.service.jobs.get("ws", job.id).status.value != "cancelled"
    assert browser.get("/console/jobs", headers=HTML).status_code == 200  # still signed in


def test_the_csrf_header_serves_scripts_and_another_origin_is_refused(console: Console) -> None:
    browser = console.signed_in()
    token = console.csrf(browser)
    job = console.job()
    foreign = browser.post(
        f"/console/jobs/{job.id}/cancel",
        headers={
            "X-CSRF-Token": token,
            "Origin": "https://evil.example",
            "accept": "application/json",
        },
    )
    assert foreign.status_code == 403
    done = browser.post(
        f"/console/jobs/{job.id}/cancel",
        headers={"X-CSRF-Token": token, "accept": "application/json"},
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"


def test_a_session_expires_and_a_revoked_key_ends_it(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = console.signed_in()
    console.world.ports.clock.advance(session.MAX_AGE_S + 1)  # type: ignore[attr-defined]
    assert browser.get("/console/jobs", headers=HTML).status_code == 303
    browser = console.signed_in()
    keys = console.world.ports.keys
    record = keys.find_by_hash(hash_key(console.keys["ws"]))
    assert record is not None
    revoked = dataclasses.replace(record, revoked_at=console.world.ports.clock.now())
    monkeypatch.setattr(keys, "find_by_hash", lambda _: revoked)  # revoked in the store
    console.world.ports.clock.advance(5)  # type: ignore[attr-defined]  # past the key cache
    assert browser.get("/console/jobs", headers=HTML).status_code == 303


def test_a_key_with_two_workspaces_switches_between_them(console: Console) -> None:
    theirs = console.finished_job("other", name="theirs")
    browser = console.new_client()
    console.sign_in(browser, api_key=console.both)
    page = browser.get("/console/jobs", headers=HTML)
    assert 'id="workspace-select"' in page.text and theirs.id not in page.text
    token = hidden(page.text)
    moved = browser.post(
        "/console/workspace", data={"csrf": token, "workspace": "other"}, headers=HTML
    )
    assert moved.status_code == 303
    page = browser.get("/console/jobs", headers=HTML)
    assert theirs.id in page.text
    assert browser.get(f"/console/jobs/{theirs.id}", headers=HTML).status_code == 200
    refused = browser.post(
        "/console/workspace", data={"csrf": token, "workspace": "elsewhere"}, headers=HTML
    )
    assert refused.status_code == 403


def test_next_after_sign_in_stays_in_the_console(console: Console) -> None:
    from tuneyard.api.console.signin import safe_next

    assert safe_next("/console/jobs/abc") == "/console/jobs/abc"
    for bad in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil",
        "/other",
        "/consoleevil",
        None,
    ):
        assert safe_next(bad) == "/console/jobs"
