"""Opening a dataset file as a stream of lines, in bounded memory.

`precheck` looks at the file without reading it (existence, extension, size); `LineReader`
then reads it in chunks, checks the encoding as it goes, and yields one `Line` per physical
line. A line longer than the limit is yielded empty with `too_long` set and is never held
whole. A problem that makes the rest unreadable (bytes that are not UTF-8, a NUL byte, the
file shrinking while it is read) stops the stream and is left in `failure`.

The hot loop works on bytes: a chunk's lines are found with `bytes.find` and sliced out, and
only a line that spans two chunks is joined. A reader given a `parse` function (orjson.loads,
for JSON Lines) hands each line's bytes to it first; orjson checks UTF-8 itself, so a line it
accepts is never decoded. bench/validate.py measures what that buys.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

from tuneyard.datasets import issues

__all__ = ["CHUNK_BYTES", "FORMATS", "NOT_PARSED", "Line", "LineReader", "format_of", "precheck"]

CHUNK_BYTES = 64 * 1024
FORMATS = {".csv": "clova-csv", ".jsonl": "clova-jsonl", ".json": "clova-jsonl"}
"""Accepted extensions and the format each is read as (.json is read as JSON Lines)."""
NOT_PARSED: Final[Any] = object()
"""`Line.value` of a line that no `parse` function accepted."""

_FOREIGN_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SHRUNK = "the file shrank while it was being read"


@dataclasses.dataclass(slots=True)
class Line:
    """One physical line: its 1-based number and text with its line ending kept.

    From a reader with a `parse` function, a line that the function accepted has its `value`
    and empty `text` (it is never decoded); every other line has `value` NOT_PARSED. Not
    frozen: one is built per line in the hot loop, and a frozen __init__ costs three times
    as much.
    """

    number: int
    text: str
    too_long: bool = False
    value: Any = NOT_PARSED


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
    """Iterates the lines of a UTF-8 file; `failure` holds what stopped it early.

    `parse`, when given, receives each line's bytes (line ending included) before they are
    decoded. It must raise ValueError for bytes that are not UTF-8 or that hold a NUL, as
    orjson.loads does: the line it accepts is taken to be UTF-8 and is not decoded.
    """

    def __init__(
        self, path: Path, max_line_bytes: int, *, parse: Callable[[bytes], Any] | None = None
    ) -> None:
        self._path = path
        self._max = max_line_bytes
        self._parse = parse
        self.failure: issues.DatasetIssue | None = None
        self._stream: BinaryIO | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes read from the file so far, a chunk at a time; 0 unless the lines are being read."""
        stream = self._stream
        return stream.tell() if stream is not None and not stream.closed else 0

    def __iter__(self) -> Iterator[Line]:
        try:
            with self._path.open("rb") as stream:
                self._stream = stream
                yield from self._lines(stream)
        except FileNotFoundError:
            self.failure = issues.missing_file()
        except OSError as exc:
            self.failure = issues.read_error(_detail(exc))

    def _lines(self, stream: BinaryIO) -> Iterator[Line]:
        """Each chunk's complete lines, sliced out of it; a line that spans chunks is carried."""
        number, carried = 1, _Carried(self._max)
        try:
            for chunk in _chunks(stream):
                start, end = 0, chunk.find(b"\n") + 1
                if end and carried.size:
                    yield self._carried_line(number, carried, chunk[:end])
                    number, start, end = number + 1, end, chunk.find(b"\n", end) + 1
                while end:
                    yield self._line(number, chunk[start:end])
                    number, start, end = number + 1, end, chunk.find(b"\n", end) + 1
                if start < len(chunk):
                    carried.add(chunk[start:])
            if carried.size:
                yield self._carried_line(number, carried, b"")
        except _NotUtf8:
            self.failure = issues.bad_encoding(number)
        except _Shrunk:
            self.failure = issues.read_error(_SHRUNK)

    def _line(self, number: int, data: bytes) -> Line:
        """The line `data`; raises _NotUtf8 when it is not UTF-8 or holds a NUL byte."""
        if len(data) > self._max:
            _decode(data)
            return Line(number, "", True)
        if self._parse is not None:
            try:
                return Line(number, "", False, self._parse(data))
            except ValueError:
                pass
        return Line(number, _decode(data))

    def _carried_line(self, number: int, carried: _Carried, end: bytes) -> Line:
        """The carried line, completed by `end`; empty and `too_long` when it was too long."""
        carried.add(end)
        data = carried.take()
        return Line(number, "", True) if data is None else self._line(number, data)


class _Carried:
    """The start of a line that continues in the next chunk.

    Its pieces are kept while the line is within the limit; past it they are only checked
    (UTF-8, no NUL) and counted, so a line of any length costs one chunk of memory.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        self.size = 0

    def add(self, piece: bytes) -> None:
        """Carry one more piece of the line; raises _NotUtf8 for a bad piece of a long line."""
        self.size += len(piece)
        if self._decoder is None and self.size <= self._limit:
            self._parts.append(piece)
            return
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")()
            self._parts, pending = [], [*self._parts, piece]
        else:
            pending = [piece]
        for part in pending:
            _check(self._decoder, part)

    def take(self) -> bytes | None:
        """The whole line, or None when it was too long; the carry is then empty again."""
        data, decoder = b"".join(self._parts), self._decoder
        self._parts, self._decoder, self.size = [], None, 0
        if decoder is None:
            return data
        _check(decoder, b"", final=True)
        return None


class _NotUtf8(Exception):
    """Raised inside the reader for a line that is not UTF-8 or holds a NUL byte."""


class _Shrunk(Exception):
    """Raised inside the reader when the file ends before the size it had when opened."""


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The file's bytes, CHUNK_BYTES at a time, without a leading UTF-8 BOM.

    Raises _NotUtf8 for a UTF-16/32 BOM, and _Shrunk when the file is cut short while it is
    read (a file deleted meanwhile still reads whole: its data lives until it is closed).
    """
    size = os.fstat(stream.fileno()).st_size
    done = 0
    for chunk in iter(functools.partial(stream.read, CHUNK_BYTES), b""):
        if done == 0 and chunk.startswith(_FOREIGN_BOMS):
            raise _NotUtf8
        done += len(chunk)
        yield chunk[3:] if done == len(chunk) and chunk.startswith(codecs.BOM_UTF8) else chunk
    if done < size:
        raise _Shrunk


def _decode(data: bytes) -> str:
    """`data` as text; raises _NotUtf8 when it is not UTF-8 or holds a NUL byte."""
    if b"\x00" in data:
        raise _NotUtf8
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotUtf8 from None


def _check(decoder: codecs.IncrementalDecoder, piece: bytes, final: bool = False) -> None:
    """Check one piece of a long line as UTF-8 without NUL; the text is not kept."""
    if b"\x00" in piece:
        raise _NotUtf8
    try:
        decoder.decode(piece, final)
    except UnicodeDecodeError:
        raise _NotUtf8 from None


def _detail(exc: OSError) -> str:
    """What went wrong, without the server-side path."""
    return exc.strerror or type(exc).__name__
