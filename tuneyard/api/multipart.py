"""Reading an upload's form with every part bounded: files, fields, and part headers.

Starlette's parser bounds the number of files and fields and the size of a field;
a part's headers are bounded here too, whatever python-multipart itself allows. Files are
spooled to disk past 1 MiB; the body as a whole is bounded before it gets here
(`tuneyard.api.limits`).
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from tuneyard import errors

__all__ = ["MAX_FIELDS", "MAX_FIELD_BYTES", "MAX_HEADER_BYTES", "file_and_fields", "read_form"]

MAX_FIELDS = 64
"""Most non-file fields in one form."""
MAX_FIELD_BYTES = 64 * 1024
"""Largest non-file field."""
MAX_HEADER_BYTES = 4 * 1024
"""Most bytes of headers (names and values together) one part may have."""


class _Parser(MultiPartParser):
    """Starlette's multipart parser, refusing a part whose headers pass MAX_HEADER_BYTES."""

    _header_bytes = 0

    def on_part_begin(self) -> None:
        self._header_bytes = 0
        super().on_part_begin()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        super().on_header_field(data, start, end)

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        super().on_header_value(data, start, end)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise MultiPartException(f"A part's headers exceed {MAX_HEADER_BYTES} bytes.")


async def read_form(request: Request, *, max_files: int | None = None) -> FormData:
    """The request's form (multipart, or URL-encoded fields only), every part bounded;
    at most `max_files` file parts (default: the server's --max-upload-files). A form that
    breaks a bound or cannot be read is InvalidRequest; the caller closes the form."""
    settings = request.app.state.settings
    files = settings.max_upload_files if max_files is None else max_files
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            return await _Parser(
                request.headers,
                request.stream(),
                max_files=files,
                max_fields=MAX_FIELDS,
                max_part_size=MAX_FIELD_BYTES,
            ).parse()
        if kind == "application/x-www-form-urlencoded":
            return await FormParser(
                request.headers,
                request.stream(),
                max_fields=MAX_FIELDS,
                max_part_size=MAX_FIELD_BYTES,
            ).parse()
    except MultiPartException as exc:
        raise errors.InvalidRequest(exc.message) from exc
    raise errors.InvalidRequest("Content-Type must be multipart/form-data")


def file_and_fields(form: FormData, name: str = "file") -> tuple[UploadFile, dict[str, str]]:
    """The form's file part `name` (InvalidRequest without one) and its text fields."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        raise errors.InvalidRequest(f"a multipart part named {name} is required", param=name)
    return upload, {k: v for k, v in form.items() if isinstance(v, str)}
