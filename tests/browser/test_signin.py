"""Signing in and out with an API key, and switching workspace, in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser import seeding
from tests.browser.conftest import Console

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_sign_in_switch_workspace_and_sign_out(
    page: Any, console: Console, shot: Callable[[str], Path]
) -> None:
    # Not signed in: the console sends the browser to the sign-in form.
    page.goto("/console/jobs")
    page.wait_for_url("**/console/signin**")
    shot("signin-form")

    page.get_by_label("API key").fill("nv-" + "0" * 32)
    page.locator("#signin-submit").click()
    page.locator("#signin-error").wait_for()
    shot("wrong-key")
    assert page.url.endswith("/console/signin")

    page.get_by_label("API key").fill(console.seeded.key)
    page.locator("#signin-submit").click()
    page.wait_for_url("**/console/jobs")
    row = page.locator(f"tr[data-job-id='{console.seeded.long_job}']")
    assert row.locator(".job-link").inner_text() == "ten-thousand-steps"
    assert page.locator(f"tr[data-job-id='{console.seeded.other_job}']").count() == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "tuneyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert console.seeded.key not in cookie["value"]
    shot("jobs-list")

    # The key works in two workspaces: the switcher moves to the other, which is empty.
    page.get_by_label("Workspace").select_option(seeding.SECOND_WORKSPACE)
    page.locator("#workspace-switch").click()
    page.locator("#jobs-empty").wait_for()
    assert page.get_by_label("Workspace").input_value() == seeding.SECOND_WORKSPACE
    shot("second-workspace")

    page.locator("#signout").click()
    page.wait_for_url("**/console/signin")
    shot("signed-out")
    assert not [c for c in page.context.cookies() if c["name"] == "tuneyard_session"]
    page.goto("/console/jobs")
    page.wait_for_url("**/console/signin**")
