"""Compare: two or more jobs side by side, differences highlighted."""

from __future__ import annotations

import re

from tests.console.conftest import HTML, Console
from tuneyard.core.jobs import Hyperparameters


def test_two_jobs_side_by_side_with_differences_highlighted(console: Console) -> None:
    first = console.job(name="lr small", hyperparameters=Hyperparameters(n_epochs=2))
    second = console.job(
        name="lr big", hyperparameters=Hyperparameters(n_epochs=2, learning_rate=3e-4)
    )
    browser = console.signed_in()
    page = browser.get(f"/console/compare?job={first.id}&job={second.id}", headers=HTML)
    assert page.status_code == 200
    differing = set(re.findall(r'<tr data-name="([^"]+)" class="diff">', page.text))
    assert "learning_rate" in differing and "n_epochs" not in differing
    assert 'id="compare-loss"' in page.text and 'id="compare-valid"' in page.text
    assert f"/console/jobs/{first.id}/stream?follow=0" in page.text
    assert "0.0003" in page.text and "0.0001" in page.text


def test_fewer_than_two_jobs_offers_a_picker(console: Console) -> None:
    job = console.job(name="only one")
    browser = console.signed_in()
    page = browser.get(f"/console/compare?job={job.id}", headers=HTML)
    assert page.status_code == 200 and 'id="compare-form"' in page.text
    assert f'value="{job.id}" class="compare-pick" checked' in page.text
