"""Server-side token counts equal what the worker tokenises (no torch in the counter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneyard.basemodels import catalog, counting, minilm, tinychat
from tuneyard.datasets.examples import Example, Message
from tuneyard.datasets.profile import Profile
from tuneyard.kinds import TaskType
from tuneyard.trainer import data

CHATS = [
    Example((Message("system", "Be brief."), Message("user", "Hi?"), Message("assistant", "Yo."))),
    Example(
        (
            Message("user", "한국어 문장입니다"),
            Message("assistant", "네, 맞아요."),
            Message("user", "2+2?"),
            Message("assistant", "4"),
        )
    ),
]


def test_tiny_chat_counts_match_the_worker(tmp_path: Path) -> None:
    model = catalog.load(tmp_path).get("tiny-chat")
    assert model is not None
    counter = counting.for_model(model, TaskType.GENERATION)
    assert counter is not None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tinychat.ensure_built(tmp_path / "tiny"))
    features = data.tokenise_generation(CHATS, tokenizer, max_seq_len=4096)
    assert counter.lengths(CHATS) == [len(f.input_ids) for f in features]


def test_minilm_pairs_match_the_worker(tmp_path: Path) -> None:
    model = catalog.load(tmp_path).get("minilm-l6")
    assert model is not None
    counter = counting.for_model(model, TaskType.CLASSIFICATION)
    assert counter is not None
    from transformers import AutoTokenizer

    rows = [
        Example((Message("user", "The movie was great."),), label="positive"),
        Example((Message("system", "Rate it."), Message("user", "Awful food")), label="negative"),
    ]
    tokenizer = AutoTokenizer.from_pretrained(minilm.model_dir())
    features = data.tokenise_classification(rows, tokenizer, 512, ["negative", "positive"])
    assert counter.lengths(rows) == [len(f.input_ids) for f in features]


def test_a_configured_model_uses_its_template_and_preference_pairs(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    tinychat.backend_tokenizer().save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "chat_template": "{% for m in messages %}[{{ m.content }}]{% endfor %}",
                "eos_token": {"content": "<|end|>"},
            }
        )
    )
    (tmp_path / "models.toml").write_text(f'[models.mine]\npath = "{folder}"\n')
    model = catalog.load(tmp_path).get("mine")
    assert model is not None
    counter = counting.for_model(model, TaskType.GENERATION)
    assert counter is not None
    prompt = (Message("user", "ab"),)
    pair = Example(
        prompt, chosen=(Message("assistant", "c"),), rejected=(Message("assistant", "dd"),)
    )
    assert counter.lengths([Example(prompt), pair]) == [4, 7 + 8]  # "[ab]", "[ab][c]"+"[ab][dd]"


def test_no_fast_tokenizer_means_no_counter(tmp_path: Path) -> None:
    (tmp_path / "slow").mkdir()
    (tmp_path / "models.toml").write_text('[models.slow]\npath = "slow"\n')
    model = catalog.load(tmp_path).get("slow")
    assert model is not None and counting.for_model(model, TaskType.GENERATION) is None


class _Fixed:
    def lengths(self, examples: object) -> list[int]:
        return [len(e.messages) * 10 for e in examples]  # type: ignore[attr-defined]


@pytest.mark.parametrize("count", [0, 1, 5, 3000])
def test_profile_percentiles(count: int) -> None:
    profile = Profile(_Fixed())
    for i in range(count):
        profile.add(Example(tuple(Message("user", "x") for _ in range(1 + i % 10))))
    summary = profile.summary()
    assert summary.examples == count
    if count == 0:
        assert summary.tokens == 0 and summary.tokens_p50 is None
        return
    lengths = sorted((1 + i % 10) * 10 for i in range(count))
    assert summary.tokens == sum(lengths)
    assert summary.tokens_max == lengths[-1]
    assert summary.tokens_p50 == lengths[max(0, -(-count // 2) - 1)]


def test_profile_without_counter_still_counts_examples() -> None:
    profile = Profile(None)
    profile.add(CHATS[0])
    summary = profile.summary()
    assert (summary.examples, summary.turns, summary.tokens) == (1, 3, None)
