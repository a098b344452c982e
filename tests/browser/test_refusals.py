"""What the console refuses, seen from a signed-in browser: a change without its CSRF
token, and every page, stream and action on another workspace's job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Console

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

_POST = """async ([url, token]) => {
  const headers = {"Content-Type": "application/x-www-form-urlencoded"};
  const body = token === null ? "" : "csrf=" + encodeURIComponent(token);
  const response = await fetch(url, {method: "POST", headers, body, redirect: "manual"});
  return response.status;
}"""
"""A same-origin form POST from the page's own script (the session cookie goes with it)."""


def _post(page: Any, url: str, token: str | None) -> int:
    status: int = page.evaluate(_POST, [url, token])
    return status


def test_a_change_without_its_csrf_token_is_refused(
    signed_in: Any, console: Console, shot: Callable[[str], Path]
) -> None:
    page = signed_in
    job = console.seeded.long_job
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert token

    assert _post(page, f"/console/jobs/{job}/delete", None) == 403
    assert _post(page, f"/console/jobs/{job}/delete", "not-the-token") == 403
    assert _post(page, "/console/signout", None) == 403

    # Nothing happened: still signed in, and the job is still there.
    page.goto(f"/console/jobs/{job}")
    assert page.locator("#job-status").inner_text() == "succeeded"
    shot("still-there")
    # The same change with the token goes through (the refusal was the token's doing).
    assert _post(page, "/console/signout", token) == 0  # a redirect, unfollowed
    page.goto("/console/jobs")
    page.wait_for_url("**/console/signin**")


def test_another_sites_form_cannot_act_for_the_signed_in_user(
    signed_in: Any, console: Console, shot: Callable[[str], Path]
) -> None:
    """Even with the right token copied into it, a form on another site that posts to
    the console changes nothing: the SameSite=Strict cookie stays home, and the Origin
    is checked."""
    page = signed_in
    job = console.seeded.long_job
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    target = console.url(f"/console/jobs/{job}/delete")
    evil = (
        f'<!doctype html><form id="f" method="post" action="{target}">'
        f'<input type="hidden" name="csrf" value="{token}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    page.route(
        "http://elsewhere.example/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=evil),
    )
    with page.expect_response(target) as answered:
        page.goto("http://elsewhere.example/prize.html")
    assert answered.value.status in (303, 401, 403), answered.value.status
    page.wait_for_load_state()
    shot("after-cross-site-post")
    seen = console.server.client.get(
        f"/tuneyard/v1/jobs/{job}", headers={"Authorization": f"Bearer {console.seeded.key}"}
    )
    assert seen.status_code == 200, seen.text
    page.goto(f"/console/jobs/{job}")  # still signed in, the job still there
    assert page.locator("#job-status").inner_text() == "succeeded"


def test_another_workspaces_job_is_refused(
    signed_in: Any, console: Console, shot: Callable[[str], Path]
) -> None:
    page = signed_in
    other = console.seeded.other_job
    token = page.locator("meta[name=csrf-token]").get_attribute("content")

    response = page.goto(f"/console/jobs/{other}")
    assert response is not None and response.status == 404
    assert "not-yours" not in page.content()
    shot("not-found")
    stream = page.request.get(console.url(f"/console/jobs/{other}/stream?follow=0"))
    assert stream.status == 404
    for action in ("pause", "resume", "cancel", "delete", "export", "continue"):
        assert _post(page, f"/console/jobs/{other}/{action}", token) == 404, action
    response = page.goto(f"/console/compare?job={console.seeded.long_job}&job={other}")
    assert response is not None and response.status == 404
    assert "not-yours" not in page.content()
    shot("compare-refused")

    # The other workspace's job is untouched.
    seen = console.server.client.get(
        f"/tuneyard/v1/jobs/{other}",
        headers={"Authorization": f"Bearer {console.seeded.other_key}"},
    )
    assert seen.status_code == 200 and seen.json()["status"] == "succeeded", seen.text
