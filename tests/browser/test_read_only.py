"""The job page read-only, as a Qianfan task's `vdlLink` opens it: no session, the display
token is the only credential, the curves are drawn and nothing can be changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser import seeding
from tests.browser.conftest import Console

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_the_display_token_opens_the_job_read_only(
    page: Any, console: Console, shot: Callable[[str], Path]
) -> None:
    token = quote(console.seeded.display_token, safe="")
    response = page.goto(f"/console/curves?displayToken={token}")
    assert response is not None and response.status == 200
    page.wait_for_function(f"() => window.tyChartPoints === {seeding.LONG_CURVE_STEPS}")
    assert page.locator("#read-only-badge").is_visible()
    assert page.locator("#job-id").inner_text() == console.seeded.long_job
    for absent in ("#nav", "#signout", "#job-actions", "button.export-adapter", "#back-to-jobs"):
        assert page.locator(absent).count() == 0, absent
    assert not [c for c in page.context.cookies() if c["name"] == "tuneyard_session"]
    shot("read-only")

    # The token opens that job only, and nothing else of the console.
    assert page.goto("/console/jobs") is not None
    page.wait_for_url("**/console/signin**")
    raw = console.seeded.display_token
    forged = raw[:20] + ("A" if raw[20] != "A" else "B") + raw[21:]  # a fully used character
    response = page.goto(f"/console/curves?displayToken={quote(forged, safe='')}")
    assert response is not None and response.status == 404
    shot("forged-token")
