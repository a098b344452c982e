"""Token counting with a base model's own tokenizer and chat template, without torch.

The server counts a dataset's tokens before a job is queued (`numOfTokens`), and
`tuneyard validate --model` reports them, so this must not load torch or transformers:
it uses the `tokenizers` library and renders chat templates with jinja2 the way
transformers' `apply_chat_template` does, so counts match what the worker trains on
(before truncation to max_seq_len).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuneyard.core.models import BaseModel
from tuneyard.datasets.examples import Example, Message
from tuneyard.kinds import TaskType

__all__ = ["Counters", "TokenCounter", "for_model"]

_BATCH = 512


class TokenCounter:
    """Tokens per example for one model: chat-templated conversations, or text pairs."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        template: str | None,
        specials: dict[str, str],
        task_type: TaskType,
    ) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._template = _compile(template) if template else None
        self._specials = specials
        self._pairs = task_type is TaskType.CLASSIFICATION

    def lengths(self, examples: Sequence[Example]) -> list[int]:
        """The token count of each example (both replies of a preference pair added up)."""
        if self._pairs:
            inputs: list[Any] = [_pair(e) for e in examples]
            encoded = self._tokenizer.encode_batch(inputs, add_special_tokens=True)
            return [len(e.ids) for e in encoded]
        texts: list[str] = []
        owners: list[int] = []
        for index, example in enumerate(examples):
            for text in self._texts(example):
                texts.append(text)
                owners.append(index)
        counts = [0] * len(examples)
        for start in range(0, len(texts), _BATCH):
            batch = self._tokenizer.encode_batch(
                texts[start : start + _BATCH], add_special_tokens=False
            )
            for offset, encoding in enumerate(batch):
                counts[owners[start + offset]] += len(encoding.ids)
        return counts

    def _texts(self, example: Example) -> list[str]:
        if example.text is not None:
            return [example.text]
        if example.chosen is None or example.rejected is None:
            return [self._render(example.messages)]
        return [
            self._render(example.messages + example.chosen),
            self._render(example.messages + example.rejected),
        ]

    def _render(self, messages: tuple[Message, ...]) -> str:
        if self._template is None:
            return "\n".join(m.content for m in messages)
        return str(
            self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=False,
                **self._specials,
            )
        )


def _pair(example: Example) -> str | tuple[str, str]:
    system = "\n".join(m.content for m in example.messages if m.role == "system")
    user = "\n".join(m.content for m in example.messages if m.role == "user")
    return (system, user) if system else user


def _compile(template: str) -> Any:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def for_model(model: BaseModel, task_type: TaskType) -> TokenCounter | None:
    """A counter for the model, or None when it ships no fast tokenizer (tokenizer.json)."""
    import tokenizers

    if model.source == "tiny-chat":
        from tuneyard.basemodels import tinychat

        return TokenCounter(
            tinychat.backend_tokenizer(),
            template=tinychat.CHAT_TEMPLATE,
            specials={"eos_token": "<|end|>", "pad_token": "<|pad|>"},
            task_type=task_type,
        )
    if model.source == "minilm-l6":
        from tuneyard.basemodels import minilm

        folder = minilm.model_dir()
    else:
        folder = Path(model.path or "")
    if not (folder / "tokenizer.json").is_file():
        return None
    config = _config(folder)
    return TokenCounter(
        tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json")),
        template=_template(folder, config),
        specials=_specials(config),
        task_type=task_type,
    )


def _config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _template(folder: Path, config: dict[str, Any]) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: use the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) else None


def _specials(config: dict[str, Any]) -> dict[str, str]:
    found = {}
    for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            found[name] = value
    return found


class Counters:
    """The TokenCounters port: one counter per (model, task type), built on first use."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str | None, TaskType], TokenCounter | None] = {}

    def counter(self, model: BaseModel, task_type: TaskType) -> TokenCounter | None:
        """A (cached) counter for the model, or None without a fast tokenizer."""
        key = (model.name, model.path, task_type)
        if key not in self._cache:
            self._cache[key] = for_model(model, task_type)
        return self._cache[key]
