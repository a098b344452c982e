"""The Files page: the workspace's files, the first rows of one, delete with the CSRF
token; another workspace's file is not-found."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.console.consoleapp import CHAT, Pages
from tests.support.world import EXAMPLES


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    return Pages(tmp_path)


def _upload(pages: Pages, data: bytes = CHAT, name: str = "train.jsonl") -> str:
    answer = pages.browser.upload(data, name)
    file_id: str = answer.json()["file"]["id"]
    return file_id


def test_the_list_shows_the_workspaces_files_only(pages: Pages) -> None:
    mine = _upload(pages)
    theirs = pages.other.upload(CHAT, "theirs.jsonl").json()["file"]["id"]
    page = pages.browser.page("/console/files")
    assert page.status_code == 200
    assert f'data-file-id="{mine}"' in page.text and "train.jsonl" in page.text
    assert theirs not in page.text and "theirs.jsonl" not in page.text


def test_an_empty_workspace_says_so(pages: Pages) -> None:
    assert 'id="files-empty"' in pages.browser.page("/console/files").text


def test_inspect_shows_the_first_rows_with_their_lines(pages: Pages) -> None:
    file_id = _upload(pages)
    page = pages.browser.page(f"/console/files/{file_id}")
    assert page.status_code == 200
    assert page.text.count('class="file-line"') == 20
    assert 'data-line="1"' in page.text and 'data-line="20"' in page.text
    assert 'data-line="21"' not in page.text
    assert "You are a concise arithmetic tutor." in page.text


def test_a_csv_file_is_shown_as_a_table(pages: Pages) -> None:
    data = (EXAMPLES / "clova-generation.csv").read_bytes()
    file_id = _upload(pages, data, "train.csv")
    page = pages.browser.page(f"/console/files/{file_id}")
    assert '<table id="file-rows">' in page.text
    header = data.decode().splitlines()[0].split(",")
    assert all(f'<th scope="col">{cell}</th>' in page.text for cell in header)


def test_delete_needs_the_csrf_token_then_the_file_is_gone(pages: Pages) -> None:
    file_id = _upload(pages)
    refused = pages.browser.client.post(f"/console/files/{file_id}/delete", data={})
    assert refused.status_code == 403
    assert pages.world.service.uploads.get_file("ws", file_id).id == file_id
    done = pages.browser.client.post(
        f"/console/files/{file_id}/delete", data={"csrf": pages.browser.csrf}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/files?deleted={file_id}"
    listing = pages.browser.page(done.headers["location"])
    assert 'id="file-notice"' in listing.text and f'data-file-id="{file_id}"' not in listing.text
    assert pages.browser.page(f"/console/files/{file_id}").status_code == 404


def test_a_script_deletes_with_the_header(pages: Pages) -> None:
    file_id = _upload(pages)
    assert pages.browser.delete(f"/console/files/{file_id}", csrf=False).status_code == 403
    answer = pages.browser.delete(f"/console/files/{file_id}")
    assert answer.status_code == 200 and answer.json() == {"id": file_id, "deleted": True}


def test_another_workspaces_file_is_not_found(pages: Pages) -> None:
    theirs = pages.other.upload(CHAT).json()["file"]["id"]
    assert pages.browser.page(f"/console/files/{theirs}").status_code == 404
    assert pages.browser.delete(f"/console/files/{theirs}").status_code == 404
    form = pages.browser.client.post(
        f"/console/files/{theirs}/delete", data={"csrf": pages.browser.csrf}
    )
    assert form.status_code == 404
    assert pages.world.service.uploads.get_file("other", theirs).id == theirs
