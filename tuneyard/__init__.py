"""tuneyard: a self-hosted LLM fine-tuning service that speaks the cloud vendors' APIs."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
