"""Base models: the catalogue entries jobs are trained from."""

from __future__ import annotations

import dataclasses

from tuneyard.core.jobs import BaseModelRef
from tuneyard.kinds import TaskType

__all__ = ["BaseModel"]


@dataclasses.dataclass(frozen=True, slots=True)
class BaseModel:
    """A base model clients can name: built in (`tiny-chat`, `minilm-l6`) or configured."""

    name: str
    task_types: tuple[TaskType, ...]
    source: str
    path: str | None
    description: str
    lora_modules: tuple[str, ...] = ()
    """The names of the layers LoRA can wrap (the last part of each module's path, e.g.
    `q_proj`); empty when they are not known, and then any name is passed on."""

    def default_task_type(self) -> TaskType:
        """CLASSIFICATION for a classification-only model, else GENERATION."""
        if self.task_types == (TaskType.CLASSIFICATION,):
            return TaskType.CLASSIFICATION
        return TaskType.GENERATION

    def ref(self) -> BaseModelRef:
        """What the worker needs to load this model."""
        return BaseModelRef(name=self.name, source=self.source, path=self.path)
