"""tiny-chat: a 3.3M-parameter Llama-style chat model, pretrained, shipped with the package.

Nothing is downloaded. The tokenizer is byte-level (the 256 byte values plus a few chat
markers), so any language round-trips. The weights were pretrained by
`tuneyard.basemodels.tinychat_pretrain` on a generated corpus (many small task families in
the chat template, plus Python's standard-library docstrings) and ship in half precision
in `tiny_chat_weights/` (its README is the model card). `ensure_built` writes the Hugging
Face folder (fp32 weights, config, tokenizer) into the data dir on first use.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from tuneyard.basemodels import folders

__all__ = [
    "CHAT_TEMPLATE",
    "LORA_MODULES",
    "NAME",
    "SPECIAL_TOKENS",
    "WEIGHTS",
    "backend_tokenizer",
    "build_untrained",
    "describe",
    "ensure_built",
    "make_tokenizer",
    "untrained",
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

WEIGHTS = Path(__file__).with_name("tiny_chat_weights") / "model.safetensors"
"""The pretrained weights as shipped (fp16 safetensors); the model card is beside them."""

_SEED = 20240601
_MAX_POSITIONS = 2048
_STAMP = "tuneyard-build.json"
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def describe() -> str:
    """One line for the model catalogue."""
    return (
        f"{NAME}: 3.3M-parameter Llama-style chat model with a byte-level tokenizer, "
        "pretrained on small chat tasks and Python docstrings (for CPU runs and tests)"
    )


def ensure_built(path: Path) -> Path:
    """Write tiny-chat into `path` unless that exact build is already there; return `path`.

    The folder is written in a temporary directory beside `path` and renamed into place, so
    `path` is never half-written; a file lock serialises concurrent builders. A folder from
    another build (an older tuneyard's untrained tiny-chat) is replaced.
    """
    return folders.build_once(path, _is_built, _build)


@functools.cache
def _weights_digest() -> str:
    try:
        return hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"tiny-chat's pretrained weights are missing from the package ({WEIGHTS}); "
            "reinstall tuneyard, or remake them with "
            "`python -m tuneyard.basemodels.tinychat_pretrain` (see the model card)"
        ) from None


def _is_built(path: Path) -> bool:
    if not all((path / name).is_file() for name in (*_REQUIRED_FILES, _STAMP)):
        return False
    try:
        stamp = json.loads((path / _STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(stamp, dict) and stamp.get("weights_sha256") == _weights_digest()


def untrained(tokenizer: Any | None = None) -> Any:
    """tiny-chat's architecture with its seeded random initial weights (fp32): where the
    pretraining script starts, and the untrained baseline tests compare against."""
    import torch
    import transformers

    tokenizer = make_tokenizer() if tokenizer is None else tokenizer
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
        return transformers.LlamaForCausalLM(config)


def _build(into: Path) -> None:
    """The shipped fp16 weights, widened to fp32, in a Hugging Face folder with the tokenizer."""
    import torch
    from safetensors.torch import load_file

    digest = _weights_digest()  # says what to do when the weights are missing
    tokenizer = make_tokenizer()
    model = untrained(tokenizer)
    state = {name: tensor.to(torch.float32) for name, tensor in load_file(WEIGHTS).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"{WEIGHTS}: not tiny-chat's weights ({missing=}, {unexpected=})")
    model.tie_weights()
    model.save_pretrained(into)
    tokenizer.save_pretrained(into)
    (into / _STAMP).write_text(
        json.dumps({"weights_sha256": digest, "source": WEIGHTS.name}) + "\n",
        encoding="utf-8",
    )


def build_untrained(into: Path) -> Path:
    """Write the untrained tiny-chat (seeded random weights) into `into`; return it."""
    tokenizer = make_tokenizer()
    untrained(tokenizer).save_pretrained(into)
    tokenizer.save_pretrained(into)
    return into


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


def make_tokenizer() -> Any:
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
