"""What the worker holds in memory: base models, their adapters, and tokenizers.

One copy of each base model (a folder in Hugging Face layout; a full fine-tuned output or
checkpoint is its own base) is loaded on first use and wrapped in a runner: the ragged
batched forward for Llama-architecture models, the one-sequence-at-a-time fallback for the
rest. Adapters are loaded on first use too and counted together across bases; past
`max_adapters` the least recently used one that no running sequence uses is evicted (a
request whose adapter cannot be loaded yet waits), and a later request loads it again.
Bases past `max_models` are evicted the same way once no request uses them.
"""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
from typing import Any

import torch

from tuneyard.basemodels import tinychat
from tuneyard.serving import adapters, batch, fallback, llama, protocol
from tuneyard.serving.refusals import Refused

__all__ = ["Model", "Store", "adapter_folder", "model_folder", "write_builtin"]

_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")
_MAX_TOKENIZERS = 32


@dataclasses.dataclass(eq=False)
class Model:
    """A loaded base model: its runner, context length, and how many requests use it."""

    path: str
    runner: batch.Runner
    max_positions: int | None
    users: int = 0


@dataclasses.dataclass(eq=False)
class _Slot:
    handle: Any
    users: int = 0


def model_folder(path: str) -> Path:
    """The folder of a whole model; Refused (model_not_found) when it holds none."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise Refused("model_not_found", f"no model is saved at {path}")
    return folder


def write_builtin(target: protocol.Target) -> None:
    """Write a built-in base model out at `target.base` unless it is there (tiny-chat on a
    data dir where nothing has trained yet, or one an older tuneyard wrote)."""
    if target.builtin is None:
        return
    if target.builtin != tinychat.NAME:
        raise Refused("model_not_found", f"no built-in base model {target.builtin!r}")
    tinychat.ensure_built(Path(target.base))


def adapter_folder(path: str) -> Path:
    """The folder of a PEFT adapter; Refused (model_not_found) when it holds none."""
    folder = Path(path)
    if not (folder / adapters.CONFIG).is_file():
        raise Refused("model_not_found", f"no adapter is saved at {path}")
    return folder


class Store:
    """Loads, shares and evicts base models, adapters and tokenizers."""

    def __init__(
        self,
        *,
        max_adapters: int = 8,
        max_models: int = 2,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.max_adapters = max(1, max_adapters)
        self.max_models = max(1, max_models)
        self.device = torch.device(device)
        self.dtype = dtype
        self._models: collections.OrderedDict[str, Model] = collections.OrderedDict()
        self._adapters: collections.OrderedDict[tuple[str, str], _Slot] = collections.OrderedDict()
        self._tokenizers: collections.OrderedDict[str, Any] = collections.OrderedDict()

    @property
    def loaded_adapters(self) -> list[str]:
        """The adapter folders in memory, least recently used first."""
        return [path for _, path in self._adapters]

    def tokenizer(self, base: str, adapter: str | None) -> Any:
        """The tokenizer saved with the adapter when it has one, else the base's."""
        folder = Path(adapter) if adapter else Path(base)
        if adapter and not any((folder / name).is_file() for name in _TOKENIZER_FILES):
            folder = Path(base)
        key = str(folder)
        if key in self._tokenizers:
            self._tokenizers.move_to_end(key)
            return self._tokenizers[key]
        import transformers

        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            raise Refused("model_not_found", f"no tokenizer is saved at {folder}: {exc}") from exc
        self._tokenizers[key] = tokenizer
        while len(self._tokenizers) > _MAX_TOKENIZERS:
            self._tokenizers.popitem(last=False)
        return tokenizer

    def model(self, base: str) -> Model:
        """The loaded base model at `base` (loaded now if needed); the caller counts itself
        as a user (`users += 1`) until it calls `done_with`."""
        key = str(model_folder(base))
        found = self._models.get(key)
        if found is not None:
            self._models.move_to_end(key)
            return found
        self._evict_models(room_for=1)
        model = Model(key, *self._load(Path(key)))
        self._models[key] = model
        return model

    def done_with(self, model: Model) -> None:
        """One user of `model` is finished with it."""
        model.users = max(0, model.users - 1)

    def acquire(self, model: Model, path: str) -> Any | None:
        """The handle of adapter `path` on `model`, loaded if needed and counted as used;
        None when every adapter slot is taken by running sequences."""
        key = (model.path, str(adapter_folder(path)))
        slot = self._adapters.get(key)
        if slot is None:
            if len(self._adapters) >= self.max_adapters and not self._evict_adapter():
                return None
            try:
                handle = model.runner.load_adapter(Path(key[1]))
            except adapters.Unsupported as exc:
                raise Refused("invalid_request", str(exc)) from exc
            except (OSError, KeyError, ValueError) as exc:
                raise Refused(
                    "model_not_found", f"cannot read the adapter at {path}: {exc}"
                ) from exc
            slot = self._adapters[key] = _Slot(handle)
        self._adapters.move_to_end(key)
        slot.users += 1
        return slot.handle

    def release(self, model: Model, path: str) -> None:
        """One running sequence group no longer uses adapter `path` on `model`."""
        slot = self._adapters.get((model.path, str(Path(path))))
        if slot is not None:
            slot.users = max(0, slot.users - 1)

    def _evict_adapter(self) -> bool:
        for key, slot in self._adapters.items():
            if slot.users == 0:
                del self._adapters[key]
                owner = self._models.get(key[0])
                if owner is not None:
                    owner.runner.unload_adapter(slot.handle)
                return True
        return False

    def _evict_models(self, room_for: int) -> None:
        for key in list(self._models):
            if len(self._models) + room_for <= self.max_models:
                return
            if self._models[key].users == 0:
                del self._models[key]
                for adapter_key in [k for k in self._adapters if k[0] == key]:
                    del self._adapters[adapter_key]

    def _load(self, folder: Path) -> tuple[batch.Runner, int | None]:
        import transformers

        try:
            net: Any = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            raise Refused(
                "model_not_found", f"cannot load a causal LM from {folder}: {exc}"
            ) from exc
        net = net.to(self.device).eval()
        runner: batch.Runner = llama.Llama(net) if llama.supports(net) else fallback.Fallback(net)
        config = net.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        return runner, int(limit) if limit else None
