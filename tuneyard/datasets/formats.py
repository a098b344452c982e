"""Every dataset format tuneyard reads, declared once: its name, vendor, kind and parser.

A format's `kind` is the objective its examples train (`kinds.Objective`): SFT reads
conversations with assistant replies (a classifier reads the same files, its final reply
being the label), DPO preference pairs, CPT plain documents. The trainer's table of
objectives (`tuneyard.trainer.objectives`) says which kind each objective reads, so
whether a file can serve a job is read from these two tables, never from a format's name.

JSON Lines formats name the vendor module's parser; CLOVA's two formats (CSV rows or
JSON Lines records, grouped into conversations) have their own reader, `clova`.
"""

from __future__ import annotations

import dataclasses

from tuneyard.datasets import dashscope, jsonl, openai, qianfan
from tuneyard.kinds import Objective

__all__ = ["ALL", "BY_NAME", "HOLDS", "NAMES", "Format"]


@dataclasses.dataclass(frozen=True, slots=True)
class Format:
    """One dataset format: its name, the vendor whose files it reads, the kind of examples
    it holds, and its line parser (None: read by `clova`)."""

    name: str
    vendor: str
    kind: Objective
    parser: jsonl.Parser | None


ALL: tuple[Format, ...] = (
    Format("clova-csv", "clova", Objective.SFT, None),
    Format("clova-jsonl", "clova", Objective.SFT, None),
    Format("openai-chat", "openai", Objective.SFT, openai.chat),
    Format("openai-dpo", "openai", Objective.DPO, openai.preference),
    Format("dashscope-sft", "dashscope", Objective.SFT, dashscope.chat),
    Format("dashscope-dpo", "dashscope", Objective.DPO, dashscope.preference),
    Format("dashscope-cpt", "dashscope", Objective.CPT, dashscope.text),
    Format("qianfan-sft", "qianfan", Objective.SFT, qianfan.chat),
    Format("qianfan-dpo", "qianfan", Objective.DPO, qianfan.preference),
)
"""Every format tuneyard reads, in the order they are listed to users."""

HOLDS: dict[Objective, str] = {
    Objective.SFT: "conversations with assistant replies",
    Objective.DPO: "preference pairs (chosen and rejected replies)",
    Objective.CPT: 'plain documents ({"text": …} lines)',
}
"""What the examples of each kind are, in words (for a file that cannot serve a job)."""

BY_NAME: dict[str, Format] = {f.name: f for f in ALL}
"""The formats by name."""

NAMES: tuple[str, ...] = tuple(f.name for f in ALL)
"""Every format's name."""
