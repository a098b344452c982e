"""tiny-chat: a ~3.3M-parameter Llama-style chat model, built locally and deterministically.

Nothing is downloaded: the weights come from a fixed torch seed and the tokenizer is
byte-level (the 256 byte values plus a few chat markers), so any language round-trips.
The model is untrained; it exists so that the whole fine-tuning pipeline runs on a CPU.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "CHAT_TEMPLATE",
    "LORA_MODULES",
    "NAME",
    "SPECIAL_TOKENS",
    "backend_tokenizer",
    "describe",
    "ensure_built",
]

NAME = "tiny-chat"
"""Catalogue name of this base model."""

SPECIAL_TOKENS = ("<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")
"""Chat markers, with ids 256.. after the 256 byte symbols; <|end|> closes every turn."""

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)
"""Jinja chat template: `<|role|>content<|end|>` per turn, `<|assistant|>` to prompt a reply."""

LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Its linear layers (Llama's names), the modules LoRA can wrap."""

_SEED = 20240601
_MAX_POSITIONS = 2048
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def describe() -> str:
    """One line for the model catalogue."""
    return (
        f"{NAME}: 3.3M-parameter Llama-style chat model with a byte-level tokenizer, "
        "untrained, built locally (for CPU runs and tests)"
    )


def ensure_built(path: Path) -> Path:
    """Build tiny-chat into `path` unless it is already there; return `path`.

    The model is built in a temporary directory beside `path` and renamed into place, so
    `path` is never half-written; a file lock serialises concurrent builders.
    """
    path = Path(path)
    if _is_built(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent / f".{path.name}.lock"):
        if _is_built(path):
            return path
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            _build(staging)
            os.replace(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return path


def _is_built(path: Path) -> bool:
    return all((path / name).is_file() for name in _REQUIRED_FILES)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _build(into: Path) -> None:
    import torch
    import transformers

    tokenizer = _tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=704,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=_MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(into)
    tokenizer.save_pretrained(into)


def backend_tokenizer() -> Any:
    """The byte-level `tokenizers.Tokenizer` (no torch needed): id b is byte b, markers follow."""
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers

    symbol = _byte_symbols()
    vocab = {symbol[b]: b for b in range(256)}
    backend = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(
        [tokenizers.AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]
    )
    return backend


def _tokenizer() -> Any:
    """The transformers wrapper of `backend_tokenizer()`, with the chat template."""
    import transformers

    pad, end, *markers = SPECIAL_TOKENS
    tokenizer = transformers.PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend_tokenizer(),
        pad_token=pad,
        eos_token=end,
        extra_special_tokens=markers,
        model_max_length=_MAX_POSITIONS,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _byte_symbols() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte (what ByteLevel pre-tokenizes to)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return symbols
