"""Published models and their versions in dicts: the same contract as `SqlPublished`."""

from __future__ import annotations

import builtins
import copy
import dataclasses
import threading
from datetime import datetime

from tuneyard import errors
from tuneyard.core.paging import Cursor, Slice
from tuneyard.core.published import PublishedModel, PublishedVersion

__all__ = ["MemoryPublished"]


class MemoryPublished:
    """Published models and versions under one lock."""

    def __init__(self) -> None:
        self._models: dict[str, PublishedModel] = {}
        self._versions: dict[str, PublishedVersion] = {}
        self._lock = threading.Lock()

    def add_model(self, model: PublishedModel) -> None:
        """Insert a published model: PublishedNameTaken on a name clash in its workspace."""
        with self._lock:
            if any(
                m.workspace_id == model.workspace_id and m.name == model.name
                for m in self._models.values()
            ):
                raise errors.PublishedNameTaken(
                    f"A model named {model.name} already exists.", param="name"
                )
            if model.id in self._models:
                raise ValueError(f"duplicate published model id {model.id}")
            self._models[model.id] = copy.deepcopy(model)

    def get_model(self, model_id: str) -> PublishedModel | None:
        """The published model, or None."""
        with self._lock:
            return copy.deepcopy(self._models.get(model_id))

    def find_model(self, workspace_id: str, name: str) -> PublishedModel | None:
        """The workspace's published model called `name`, or None."""
        with self._lock:
            found = [
                m
                for m in self._models.values()
                if m.workspace_id == workspace_id and m.name == name
            ]
            return copy.deepcopy(found[0]) if found else None

    def slice_models(
        self, workspace_id: str, *, after: Cursor | None, limit: int, oldest_first: bool = False
    ) -> Slice[PublishedModel]:
        """The workspace's published models after the cursor."""
        with self._lock:
            mine = [m for m in self._models.values() if m.workspace_id == workspace_id]
        ordered = sorted(mine, key=lambda m: (m.created_at, m.id), reverse=not oldest_first)
        if after is not None:
            mark = (after.created_at, after.id)
            ordered = [
                m
                for m in ordered
                if ((m.created_at, m.id) > mark if oldest_first else (m.created_at, m.id) < mark)
            ]
        return Slice(copy.deepcopy(ordered[:limit]), len(ordered) > limit)

    def remove_model(self, model_id: str) -> bool:
        """Delete the model and its versions."""
        with self._lock:
            if self._models.pop(model_id, None) is None:
                return False
            for version_id in [v.id for v in self._versions.values() if v.model_id == model_id]:
                del self._versions[version_id]
            return True

    def add_version(
        self, version: PublishedVersion, updated_at: datetime
    ) -> PublishedVersion | None:
        """Insert the version with the next number and touch its model; None when the
        model is gone."""
        with self._lock:
            model = self._models.get(version.model_id)
            if model is None:
                return None
            if version.id in self._versions:
                raise ValueError(f"duplicate published version id {version.id}")
            numbers = [v.number for v in self._versions.values() if v.model_id == model.id]
            numbered = dataclasses.replace(version, number=max(numbers, default=0) + 1)
            self._versions[numbered.id] = copy.deepcopy(numbered)
            self._models[model.id] = dataclasses.replace(model, updated_at=updated_at)
            return copy.deepcopy(numbered)

    def get_version(self, version_id: str) -> PublishedVersion | None:
        """The version, or None."""
        with self._lock:
            return copy.deepcopy(self._versions.get(version_id))

    def versions(self, model_id: str) -> builtins.list[PublishedVersion]:
        """The model's versions, by number."""
        with self._lock:
            found = [v for v in self._versions.values() if v.model_id == model_id]
        return copy.deepcopy(sorted(found, key=lambda v: v.number))

    def remove_version(self, version_id: str, updated_at: datetime) -> bool:
        """Delete the version and touch its model."""
        with self._lock:
            version = self._versions.pop(version_id, None)
            if version is None:
                return False
            model = self._models.get(version.model_id)
            if model is not None:
                self._models[model.id] = dataclasses.replace(model, updated_at=updated_at)
            return True
