"""small: a Llama-style config of about 27M parameters, for measuring the engine where GEMMs matter.

tiny-chat (hidden 256) is so small that per-example attention and small matrix products
cap what any engine reaches on a CPU. `small` has the same byte-level tokenizer and chat
template, hidden 512 and 8 layers, and seeded random weights (throughput and memory do not
depend on what the weights know). It is built locally, never downloaded: `ensure_built`
writes the Hugging Face folder once into a cache folder and reuses it. The benchmarks
(`bench/train_throughput.py --model small`, the estimate bench) train it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tuneyard.basemodels import folders, tinychat

__all__ = ["NAME", "SHAPE", "config", "ensure_built", "untrained"]

NAME = "small"
"""Name of this benchmark model."""

SHAPE: dict[str, Any] = {
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
}
"""Its Llama shape: 27.4M parameters with tiny-chat's 261-token vocabulary."""

_SEED = 20261207
_MAX_POSITIONS = 2048
_STAMP = "tuneyard-build.json"


def config(tokenizer: Any | None = None) -> Any:
    """The transformers `LlamaConfig` of `small` (tiny-chat's tokenizer decides the ids)."""
    import transformers

    tokenizer = tinychat.make_tokenizer() if tokenizer is None else tokenizer
    return transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=_MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **SHAPE,
    )


def untrained(tokenizer: Any | None = None) -> Any:
    """`small` with its seeded random initial weights (fp32)."""
    import torch
    import transformers

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        return transformers.LlamaForCausalLM(config(tokenizer))


def ensure_built(path: Path) -> Path:
    """Write `small` (weights, config, tokenizer) into `path` unless that build is already
    there; return `path`. Written beside it and renamed into place, so never half-written."""
    return folders.build_once(path, _is_built, _build)


def _build(into: Path) -> None:
    tokenizer = tinychat.make_tokenizer()
    untrained(tokenizer).save_pretrained(into)
    tokenizer.save_pretrained(into)
    stamp = json.dumps({"build": _digest()}) + "\n"
    (into / _STAMP).write_text(stamp, encoding="utf-8")


def _digest() -> str:
    """What identifies a build: the shape and the seed."""
    text = json.dumps({"shape": SHAPE, "seed": _SEED, "positions": _MAX_POSITIONS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _is_built(path: Path) -> bool:
    try:
        stamp = json.loads((path / _STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("build") == _digest()
        and (path / "model.safetensors").is_file()
        and (path / "config.json").is_file()
    )
