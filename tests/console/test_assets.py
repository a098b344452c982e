"""The console's static files: served from the package (no CDN), shipped in the wheel, and
the job page with everything it loads under 300 KB."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from tests.console.conftest import HTML, Console
from tuneyard.api.console import render

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_and_static_file_ships_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["tuneyard.api.console"]
    here = render.TEMPLATES_DIR.parent
    files = [
        p.relative_to(here).as_posix()
        for folder in (render.TEMPLATES_DIR, render.STATIC_DIR)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert files
    missing = [f for f in files if not any(fnmatch.fnmatchcase(f, g) for g in globs)]
    assert missing == []


def test_uplot_is_vendored_with_its_licence(console: Console) -> None:
    client = console.new_client()
    script = client.get(render.static_url("vendor/uplot/uPlot.iife.min.js"))
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert script.text.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    licence = client.get("/console/static/vendor/uplot/LICENSE")
    assert licence.status_code == 200 and "MIT License" in licence.text
    assert client.get("/console/static/../session.py").status_code == 404
    assert client.get("/console/static/%2e%2e/session.py").status_code == 404


def test_the_job_page_and_what_it_loads_weigh_under_300_kb(console: Console) -> None:
    job = console.finished_job()
    browser = console.signed_in()
    page = browser.get(f"/console/jobs/{job.id}", headers=HTML)
    linked = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text)
    assert any("uPlot.iife.min.js" in u for u in linked) and any(".css" in u for u in linked)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)  # nothing off the server
    sizes = [len(page.content)]
    for url in linked:
        asset = browser.get(url.replace("&amp;", "&"))
        assert asset.status_code == 200, url
        sizes.append(len(asset.content))
    assert sum(sizes) < 300_000
