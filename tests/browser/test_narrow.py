"""The console at 375 px wide (a phone): no page is wider than the screen, and every
control of the layout can be reached by the keyboard alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Console

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

WIDTH = 375


def test_pages_fit_375_px_and_sign_in_works_by_keyboard(
    page: Any, console: Console, shot: Callable[[str], Path]
) -> None:
    page.set_viewport_size({"width": WIDTH, "height": 800})
    page.goto("/console/signin")
    # Keyboard only: Tab to the key field, type, Enter submits the form.
    page.keyboard.press("Tab")  # the skip link
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "api-key":
            break
    else:
        pytest.fail("the API key field cannot be reached with Tab")
    page.keyboard.type(console.seeded.key)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/jobs")

    wide = []
    for name, path in (
        ("jobs", "/console/jobs"),
        ("job", f"/console/jobs/{console.seeded.long_job}"),
        ("new-job", "/console/jobs/new"),
        (
            "compare",
            f"/console/compare?job={console.seeded.long_job}&job={console.seeded.long_job}",
        ),
        ("files", "/console/files"),
    ):
        page.goto(path)
        page.wait_for_load_state("load")
        if name == "job":  # the whole curve drawn, at this width
            page.wait_for_function("() => window.tyChartPoints === 10000")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        shot(name)
        if width > WIDTH:
            wide.append(f"{path}: {width} px")
    assert not wide, wide
