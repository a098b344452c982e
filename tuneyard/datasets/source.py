"""Opening a dataset file as a stream of decoded lines, in bounded memory.

`precheck` looks at the file without reading it (existence, extension, size); `LineReader`
then reads it in chunks, checks the encoding as it goes, and yields one `Line` per physical
line. A line longer than the limit is yielded empty with `too_long` set and is never held
whole. A problem that makes the rest unreadable stops the stream and is left in `failure`.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tuneyard.datasets import issues

__all__ = ["CHUNK_BYTES", "FORMATS", "Line", "LineReader", "format_of", "precheck"]

CHUNK_BYTES = 64 * 1024
FORMATS = {".csv": "clova-csv", ".jsonl": "clova-jsonl", ".json": "clova-jsonl"}
"""Accepted extensions and the format each is read as (.json is read as JSON Lines)."""

_FOREIGN_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    """One physical line: its 1-based number and text with its line ending kept."""

    number: int
    text: str
    too_long: bool = False


def format_of(filename: str) -> str | None:
    """The dataset format a client's file name implies, or None for an unaccepted extension."""
    return FORMATS.get(os.path.splitext(filename)[1].lower())


def precheck(path: Path, filename: str, max_bytes: int) -> issues.DatasetIssue | None:
    """The problem that stops a file from being read at all, if any."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return issues.missing_file()
    except OSError as exc:
        return issues.read_error(_detail(exc))
    if format_of(filename) is None:
        return issues.bad_extension()
    if size > max_bytes:
        return issues.too_large(max_bytes)
    return None


class LineReader:
    """Iterates the decoded lines of a UTF-8 file; `failure` holds what stopped it early."""

    def __init__(self, path: Path, max_line_bytes: int) -> None:
        self._path = path
        self._max = max_line_bytes
        self.failure: issues.DatasetIssue | None = None

    def __iter__(self) -> Iterator[Line]:
        try:
            with self._path.open("rb") as stream:
                yield from self._lines(stream)
        except OSError as exc:
            self.failure = issues.read_error(_detail(exc))

    def _lines(self, stream: BinaryIO) -> Iterator[Line]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        number, size, parts = 1, 0, list[str]()
        for index, chunk in enumerate(iter(lambda: stream.read(CHUNK_BYTES), b"")):
            if index == 0 and chunk.startswith(_FOREIGN_BOMS):
                self.failure = issues.bad_encoding(1)
                return
            for piece in _pieces(chunk):
                text = self._decode(decoder, piece, number)
                if text is None:
                    return
                size += len(piece)
                if size <= self._max:
                    parts.append(text)
                else:
                    parts.clear()
                if piece.endswith(b"\n"):
                    yield Line(number, "".join(parts), too_long=size > self._max)
                    number, size, parts = number + 1, 0, []
        tail = self._decode(decoder, b"", number, final=True)
        if tail is not None and size > 0:
            yield Line(number, "".join(parts) + tail, too_long=size > self._max)

    def _decode(
        self, decoder: codecs.IncrementalDecoder, piece: bytes, number: int, final: bool = False
    ) -> str | None:
        """Decode one piece of a line; None (and `failure` set) when it is not UTF-8."""
        try:
            if b"\x00" not in piece:
                return decoder.decode(piece, final)
        except UnicodeDecodeError:
            pass
        self.failure = issues.bad_encoding(number)
        return None


def _pieces(chunk: bytes) -> Iterator[bytes]:
    """Split a chunk after each b"\\n" (UTF-8 never has that byte inside a character)."""
    start = 0
    while start < len(chunk):
        end = chunk.find(b"\n", start) + 1 or len(chunk)
        yield chunk[start:end]
        start = end


def _detail(exc: OSError) -> str:
    """What went wrong, without the server-side path."""
    return exc.strerror or type(exc).__name__
