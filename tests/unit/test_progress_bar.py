"""`tuneyard validate` draws a progress bar on a terminal, for files worth waiting on."""

from __future__ import annotations

import io
from pathlib import Path

from tuneyard.cli import validate


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal_for_big_files(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * (9 << 20))
    out = _Terminal()
    bar = validate._Bar(big, out)
    assert bar.enabled
    bar.update(3 << 20)
    bar.close()
    drawn = out.getvalue()
    assert "validating [" in drawn and " 33.3% " in drawn and "100.0%" in drawn
    assert drawn.endswith("\n")


def test_no_bar_for_small_files_or_pipes(tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"x" * 100)
    assert not validate._Bar(small, _Terminal()).enabled
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * (9 << 20))
    piped = io.StringIO()
    bar = validate._Bar(big, piped)
    bar.close()
    assert not bar.enabled and piped.getvalue() == ""
