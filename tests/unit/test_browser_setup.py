"""The browser tier's setup policy (tests/support/browser.py): which Chromium it drives,
its flags, and that a missing browser skips locally but fails under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import browser


def test_the_configured_chromium_wins_and_a_missing_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n")
    monkeypatch.setenv(browser.ENV, str(binary))
    assert browser.chromium_path() == str(binary)
    monkeypatch.setenv(browser.ENV, str(tmp_path / "absent"))
    assert browser.chromium_path() is None
    assert browser.why_missing() == f"{browser.ENV}={tmp_path / 'absent'} is not a file"


def test_chromium_is_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(browser.ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser.chromium_path() is None
    assert "apt-get install chromium" in browser.why_missing()
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert browser.chromium_path() == str(binary)


def test_root_runs_chromium_without_its_sandbox() -> None:
    assert "--no-sandbox" in browser.launch_args(root=True)
    assert "--no-sandbox" not in browser.launch_args(root=False)


def test_a_missing_browser_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        browser.unavailable("no chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the browser tests cannot run"):
        browser.unavailable("no chromium")
