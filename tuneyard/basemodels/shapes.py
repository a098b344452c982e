"""A base model's architecture for the estimate, read from its config.json (no torch).

tiny-chat is written into the data dir on first use; until then its shape is the one its
builder uses (`TINY_CHAT`, checked against the built config by the tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneyard.core import estimate
from tuneyard.core.models import BaseModel

__all__ = ["TINY_CHAT", "config_of", "shape_of"]

TINY_CHAT: dict[str, Any] = {
    "model_type": "llama",
    "vocab_size": 261,
    "hidden_size": 256,
    "intermediate_size": 704,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "tie_word_embeddings": True,
}
"""tiny-chat's config as `tinychat.untrained` builds it (the fields the estimate reads)."""


def config_of(model: BaseModel) -> dict[str, Any]:
    """The model's config.json as a dict (tiny-chat's own before it is built)."""
    if model.source == "minilm-l6":
        from tuneyard.basemodels import minilm

        folder = minilm.model_dir()
    else:
        folder = Path(model.path or ".")
    try:
        found = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        found = None
    if isinstance(found, dict):
        return found
    if model.source == "tiny-chat":
        return dict(TINY_CHAT)
    raise FileNotFoundError(f"base model {model.name}: no config.json in {folder}")


def shape_of(model: BaseModel) -> estimate.Shape:
    """The model's architecture."""
    return estimate.shape_of(config_of(model))
