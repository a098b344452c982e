"""The simple path for models the ragged forward does not cover (not Llama-architecture).

Each sequence keeps the model's own cache (a transformers `DynamicCache`) and runs its new
tokens through the model's own forward, one sequence at a time: correct for any causal LM
transformers can load, but without the batching of `tuneyard.serving.llama`. LoRA adapters
are loaded into one PEFT wrapper around the model, each under its own name, and switched
with `set_adapter` before the sequence that uses it runs (the base alone runs with the
adapters disabled).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import itertools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from tuneyard.serving import batch

__all__ = ["Cache", "Fallback", "PeftAdapter"]


@dataclasses.dataclass(slots=True)
class Cache:
    """One sequence's transformers cache and how many positions it holds."""

    past: Any
    length: int = 0

    def fork(self) -> Cache:
        """An independent copy (a sibling choice sharing the prompt)."""
        return Cache(copy.deepcopy(self.past), self.length)

    def free(self) -> None:
        """Drop the model's cache."""
        self.past = None


@dataclasses.dataclass(frozen=True, slots=True)
class PeftAdapter:
    """An adapter loaded into the PEFT wrapper, under `name`."""

    path: str
    name: str
    nbytes: int


class Fallback:
    """Runs any transformers causal LM one sequence at a time with its own cache."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.peft: Any = None
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.device = next(model.parameters()).device
        parameters = inspect.signature(model.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"
        self._names = itertools.count()

    def new_cache(self, capacity: int) -> Cache:
        """An empty cache (`capacity` is only a hint)."""
        import transformers

        return Cache(transformers.DynamicCache(config=self.model.config))

    def load_adapter(self, folder: Path) -> PeftAdapter:
        """Load the PEFT adapter in `folder` next to the others."""
        import peft

        name = f"adapter{next(self._names)}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            if self.peft is None:
                self.peft = peft.PeftModel.from_pretrained(self.model, folder, adapter_name=name)
            else:
                self.peft.load_adapter(folder, adapter_name=name)
        self.peft.eval()
        size = sum(
            p.numel() * p.element_size() for n, p in self.peft.named_parameters() if name in n
        )
        return PeftAdapter(str(folder), name, size)

    def unload_adapter(self, adapter: PeftAdapter) -> None:
        """Drop a loaded adapter's weights."""
        if self.peft is not None and adapter.name in self.peft.peft_config:
            if len(self.peft.peft_config) > 1:
                self.peft.delete_adapter(adapter.name)
            else:  # PEFT keeps at least one adapter: unwrap instead
                self.model = self.peft.unload()
                self.peft = None

    @torch.inference_mode()
    def forward(self, rows: Sequence[batch.Row]) -> torch.Tensor:
        """Run each row through the model; the last logits of the rows that want them."""
        wanted: list[torch.Tensor] = []
        for row in rows:
            ids = torch.tensor([list(row.tokens)], device=self.device)
            arguments = {self._cache_argument: row.cache.past, "use_cache": True}
            if row.adapter is not None:
                self.peft.set_adapter(row.adapter.name)
                output = self.peft(input_ids=ids, **arguments)
            elif self.peft is not None:
                with self.peft.disable_adapter():
                    output = self.peft(input_ids=ids, **arguments)
            else:
                output = self.model(input_ids=ids, **arguments)
            row.cache.length += len(row.tokens)
            if row.logits:
                wanted.append(output.logits[0, -1])
        if not wanted:
            return torch.empty((0, self.vocab_size), device=self.device)
        return torch.stack(wanted)
