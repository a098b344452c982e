"""The console's Files page: the workspace's dataset files, the first rows of one, and
deleting one (jobs that already use it keep running: its bytes stay while they need them).

Routes:
  GET    /console/files                    the list, newest first (`after`: keyset paging)
  GET    /console/files/{file_id}          one file: its record and its first rows
  POST   /console/files/{file_id}/delete   delete (a form: CSRF field), back to the list
  DELETE /console/files/{file_id}          delete (a script: X-CSRF-Token), JSON answer

Another workspace's file id is not-found, as in every dialect.

Element ids (browser tests use them): files-table (rows `tr.file-row` with data-file-id),
files-empty, files-more, file-notice, file-detail, file-rows (CSV: a table; other formats:
`li.file-line` with data-line), delete-form, delete-button (a confirmation first).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tuneyard.api import params
from tuneyard.api.console import render
from tuneyard.api.console.session import ChangeDep, UserDep
from tuneyard.api.deps import ServiceDep
from tuneyard.core.files import StoredFile
from tuneyard.core.service import Service

__all__ = ["FILES", "PAGE_SIZE", "PREVIEW_LINES", "first_lines", "router"]

FILES = "/console/files"
PAGE_SIZE = 50
"""Files listed per page."""
PREVIEW_LINES = 20
"""Lines of a file shown when it is inspected."""
_LINE_CHARS = 2_000
"""Characters of one line shown (the rest is cut, and marked)."""
_READ_BYTES = 1 << 20
"""The most bytes read for a preview."""

router = APIRouter(tags=["console"])


def first_lines(path: Path, *, limit: int = PREVIEW_LINES) -> list[tuple[int, str, bool]]:
    """The file's first `limit` non-empty lines as (line number, text, cut), decoded
    leniently and each cut at a readable length; at most `_READ_BYTES` are read."""
    found: list[tuple[int, str, bool]] = []
    with path.open("rb") as handle:
        data = handle.read(_READ_BYTES)
    for number, raw in enumerate(data.splitlines(), start=1):
        text = raw.decode("utf-8", "replace").lstrip("\ufeff")
        if not text.strip():
            continue
        found.append((number, text[:_LINE_CHARS], len(text) > _LINE_CHARS))
        if len(found) >= limit:
            break
    return found


def _table(lines: list[tuple[int, str, bool]]) -> list[list[str]] | None:
    """A CSV file's first lines as cells (the header first), or None if they do not parse."""
    try:
        rows = list(csv.reader(io.StringIO("\n".join(text for _, text, _ in lines))))
    except csv.Error:
        return None
    return rows or None


def _row(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "filename": stored.filename,
        "bytes": stored.bytes,
        "purpose": stored.purpose,
        "status": stored.status,
        "status_details": stored.status_details,
        "created_at": stored.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "created_iso": stored.created_at.isoformat(),
    }


@router.get(FILES, response_class=HTMLResponse, include_in_schema=False)
async def files_page(
    request: Request, service: ServiceDep, user: UserDep, after: str = "", deleted: str = ""
) -> HTMLResponse:
    """The workspace's files, newest first."""
    found = await run_in_threadpool(
        service.uploads.list_after,
        user.workspace_id,
        marker=params.ident(after, "after") or None,
        limit=PAGE_SIZE,
    )
    return render.render(
        request,
        "files.html",
        files=[_row(f) for f in found.items],
        more=found.items[-1].id if found.more and found.items else None,
        deleted=params.ident(deleted, "deleted"),
        paged=bool(after),
    )


def _inspect(service: Service, workspace_id: str, file_id: str) -> dict[str, Any]:
    stored, path = service.uploads.content(workspace_id, file_id)
    lines = first_lines(path) if path.is_file() else []
    table = _table(lines) if stored.filename.lower().endswith(".csv") else None
    return {"file": _row(stored), "lines": lines, "table": table}


@router.get(FILES + "/{file_id}", response_class=HTMLResponse, include_in_schema=False)
async def file_page(
    request: Request, file_id: str, service: ServiceDep, user: UserDep
) -> HTMLResponse:
    """One file: its record and its first rows."""
    found = await run_in_threadpool(_inspect, service, user.workspace_id, file_id)
    return render.render(request, "file.html", preview_lines=PREVIEW_LINES, **found)


@router.post(FILES + "/{file_id}/delete", include_in_schema=False)
async def delete_from_form(file_id: str, service: ServiceDep, user: ChangeDep) -> Response:
    """Delete the file, then show the list again."""
    await run_in_threadpool(service.uploads.delete_file, user.workspace_id, file_id)
    return RedirectResponse(f"{FILES}?deleted={file_id}", status_code=303)


@router.delete(FILES + "/{file_id}", include_in_schema=False)
async def delete_file(file_id: str, service: ServiceDep, user: ChangeDep) -> JSONResponse:
    """Delete the file (a script's request)."""
    await run_in_threadpool(service.uploads.delete_file, user.workspace_id, file_id)
    return JSONResponse({"id": file_id, "deleted": True})
