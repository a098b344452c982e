"""DashScope deployment requests: the vendor's field names exactly (spec §2.8).

Fields tuneyard keeps but does not act on (`plan`, `template_id`, `name`,
`billing_method`) are echoed as sent; unknown keys are ignored, as the vendor does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tuneyard.api.dialects.values import Int, Name, OptName, OptStr, validated

__all__ = ["MAX_SUFFIX", "CreateDeployment", "ScaleDeployment", "parse_create", "parse_scale"]

MAX_SUFFIX = 8
"""The longest `suffix` (spec §2.8)."""


class CreateDeployment(BaseModel):
    """`POST /api/v1/deployments`."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    model_name: Name
    capacity: Int = Field(ge=1)
    suffix: OptName = Field(None, max_length=MAX_SUFFIX, pattern=r"^[A-Za-z0-9_-]+$")
    plan: OptStr = None
    template_id: OptName = None
    model_version: OptName = None
    name: OptName = None
    billing_method: OptStr = None

    def deployed_model(self) -> str:
        """The name clients will call: `{model_name}-{suffix}`, or `model_name` alone."""
        return f"{self.model_name}-{self.suffix}" if self.suffix else self.model_name

    def attributes(self) -> dict[str, Any]:
        """What is echoed as sent."""
        kept = ("suffix", "plan", "template_id", "model_version", "name", "billing_method")
        return {k: getattr(self, k) for k in kept if getattr(self, k) is not None}


class ScaleDeployment(BaseModel):
    """`PUT /api/v1/deployments/{deployed_model}/scale`: `{deployed_model, capacity}`."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    deployed_model: OptName = None
    capacity: Int = Field(ge=1)


def parse_create(body: dict[str, Any]) -> CreateDeployment:
    """Validate a create body; every problem at once as InvalidRequest."""
    return validated(CreateDeployment, body)


def parse_scale(body: dict[str, Any]) -> ScaleDeployment:
    """Validate a scale body."""
    return validated(ScaleDeployment, body)
