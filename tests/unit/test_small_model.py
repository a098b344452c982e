"""The `small` benchmark model: 25–50M parameters, hidden ≥ 512, tiny-chat's tokenizer."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers

from tuneyard.basemodels import small, tinychat


def test_its_shape_is_in_the_issues_range() -> None:
    config = small.config()
    assert config.hidden_size >= 512
    with torch.device("meta"):
        net = transformers.LlamaForCausalLM(config)
    parameters = sum(p.numel() for p in net.parameters())
    assert 25_000_000 <= parameters <= 50_000_000
    assert config.vocab_size == len(tinychat.make_tokenizer())


def test_it_is_built_once_and_reused(tmp_path: Path) -> None:
    path = small.ensure_built(tmp_path / "small")
    weights = path / "model.safetensors"
    written = weights.stat().st_mtime_ns
    assert small.ensure_built(tmp_path / "small") == path
    assert weights.stat().st_mtime_ns == written
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template == tinychat.CHAT_TEMPLATE


def test_a_folder_of_another_build_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "small"
    path.mkdir()
    (path / "config.json").write_text("{}", encoding="utf-8")
    small.ensure_built(path)
    assert transformers.AutoConfig.from_pretrained(path).hidden_size == small.SHAPE["hidden_size"]
