"""Serving classification models: a label and every label's probability per input.

A classification output is a whole model whose config names its labels (`id2label`), or a
PEFT adapter (with the classifier head saved beside the LoRA weights) on a base encoder
such as minilm-l6; the adapter's `tuneyard.json` manifest then names the labels the head
was trained for. Inputs are tokenized with the tokenizer saved with the output, truncated
to the model's length, run in small batches, and soft-maxed.
"""

from __future__ import annotations

import collections
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from tuneyard.serving import models, protocol
from tuneyard.serving.refusals import Refused

__all__ = ["Classifiers"]

_MANIFEST = "tuneyard.json"
_BATCH = 32
_MAX_INPUTS = 2048


class Classifiers:
    """Loaded classification models (the most recently used few) and how to run them."""

    def __init__(self, *, device: torch.device | str = "cpu", keep: int = 2) -> None:
        self.device = torch.device(device)
        self.keep = max(1, keep)
        self._loaded: collections.OrderedDict[tuple[str, str | None], tuple[Any, Any]] = (
            collections.OrderedDict()
        )

    def run(
        self, target: protocol.Target, inputs: Sequence[str]
    ) -> tuple[tuple[str, dict[str, float]], ...]:
        """Per input: its most likely label and the probability of each label."""
        if target.kind != "classifier":
            raise Refused("invalid_request", "this model generates text; it cannot classify")
        if not inputs or len(inputs) > _MAX_INPUTS:
            raise Refused("invalid_request", f"give between 1 and {_MAX_INPUTS} inputs")
        if not all(isinstance(text, str) for text in inputs):
            raise Refused("invalid_request", "every input must be a string")
        net, tokenizer = self._model(target)
        names = _label_names(net.config)
        results: list[tuple[str, dict[str, float]]] = []
        for start in range(0, len(inputs), _BATCH):
            encoded = tokenizer(
                list(inputs[start : start + _BATCH]),
                padding=True,
                truncation=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                probs = torch.softmax(net(**encoded).logits.float(), dim=-1).cpu()
            for row in probs.tolist():
                scores = {names.get(i, str(i)): float(p) for i, p in enumerate(row)}
                best = max(scores, key=lambda label: scores[label])
                results.append((best, scores))
        return tuple(results)

    def _model(self, target: protocol.Target) -> tuple[Any, Any]:
        key = (target.base, target.adapter)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        base = models.model_folder(target.base)
        adapter = models.adapter_folder(target.adapter) if target.adapter else None
        loaded = self._load(base, adapter)
        self._loaded[key] = loaded
        while len(self._loaded) > self.keep:
            self._loaded.popitem(last=False)
        return loaded

    def _load(self, base: Path, adapter: Path | None) -> tuple[Any, Any]:
        import transformers

        labels = _manifest_labels(adapter) if adapter else None
        labels = labels or _manifest_labels(base)
        options: dict[str, Any] = {"dtype": torch.float32}
        if labels and adapter is not None:
            options.update(
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)},
            )
        tokenizer_folder = (
            adapter if adapter and (adapter / "tokenizer_config.json").is_file() else base
        )
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_folder)
            net = transformers.AutoModelForSequenceClassification.from_pretrained(base, **options)
            if adapter is not None:
                import peft

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    net = peft.PeftModel.from_pretrained(net, adapter)
        except (OSError, ValueError) as exc:
            raise Refused(
                "model_not_found", f"cannot load a classifier from {base}: {exc}"
            ) from exc
        return net.to(self.device).eval(), tokenizer


def _manifest_labels(folder: Path) -> list[str] | None:
    path = folder / _MANIFEST
    if not path.is_file():
        return None
    labels = json.loads(path.read_text("utf-8")).get("labels")
    return [str(label) for label in labels] if labels else None


def _label_names(config: Any) -> dict[int, str]:
    return {int(i): str(name) for i, name in (getattr(config, "id2label", None) or {}).items()}
