"""Neutral kinds every layer names: what a model does, which weights train, what they
optimise. A leaf module (it imports nothing from tuneyard), so `core`, `datasets` and the
trainer can share these values without importing one another."""

from __future__ import annotations

import enum

__all__ = ["Method", "Objective", "TaskType"]


class TaskType(enum.StrEnum):
    """What the tuned model does: continue a chat, or put a text in a class."""

    GENERATION = "generation"
    CLASSIFICATION = "classification"


class Method(enum.StrEnum):
    """Which weights are trained: LoRA adapters (PEFT) or all of them."""

    LORA = "lora"
    FULL = "full"


class Objective(enum.StrEnum):
    """What the training optimises: supervised replies (SFT), preferences (DPO: the
    chosen reply over the rejected one, against the starting model as reference), or every
    token of plain documents (CPT, continued pre-training)."""

    SFT = "sft"
    DPO = "dpo"
    CPT = "cpt"
