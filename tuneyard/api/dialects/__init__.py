"""The vendor dialects; each translates its wire format to the core and back, nothing else.

`ALL` is every dialect the app mounts, as `Dialect` records (`record.py`); adding one is a
new package that exports its `DIALECT`, and a line here (`docs/adding-a-dialect.md`).
"""

from __future__ import annotations

from tuneyard.api.dialects import clova, dashscope, openai, qianfan
from tuneyard.api.dialects.record import Dialect

__all__ = ["ALL", "Dialect"]

ALL: tuple[Dialect, ...] = (
    clova.DIALECT,
    dashscope.DIALECT,
    qianfan.DIALECT,
    openai.DIALECT,
)
"""Every vendor dialect, mounted in this order; an error is rendered by the dialect with
the longest prefix that holds its path (so the order does not decide it)."""
