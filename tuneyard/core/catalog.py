"""The base-model catalogue as the use-cases see it: a model by name, or ModelNotFound."""

from __future__ import annotations

from tuneyard import errors
from tuneyard.core.models import BaseModel
from tuneyard.core.ports import Ports

__all__ = ["Models"]


class Models:
    """Look up base models of the catalogue."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def get(self, name: str) -> BaseModel:
        """The catalogue entry for `name`; raises ModelNotFound."""
        found = self.ports.catalog.get(name)
        if found is None:
            raise errors.ModelNotFound(param="model")
        return found
