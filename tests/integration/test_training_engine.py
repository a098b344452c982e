"""The training engine's parts: packing, checkpoints, resume, text scores, progress records."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from tests.support.training import adapter, run_recipe, training_spec
from tuneyard.core import jobs, protocol, recording
from tuneyard.core.jobs import Progress
from tuneyard.datasets.examples import Example, Message
from tuneyard.trainer import checkpoints, data, packing, scores

pytestmark = pytest.mark.integration  # trains the tiny models (no server)

IGNORE = data.IGNORE_INDEX


def conversation(i: int) -> Example:
    a, b = i % 7, i % 5
    return Example(
        (
            Message("user", f"{a}+{b}?" + " please" * (i % 4)),
            Message("assistant", f"{a + b}"),
        )
    )


# --- packing -------------------------------------------------------------------------------


def test_pack_restarts_positions_and_keeps_targets_inside_each_example() -> None:
    batch = packing.pack([([5, 6, 7], [IGNORE, 6, 7]), ([8, 9], [8, 9])])
    assert batch.input_ids.tolist() == [[5, 6, 7, 8, 9]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 0, 1]]
    assert batch.lengths == [3, 2]
    # position 0 predicts 6, 1 predicts 7, 3 predicts 9; nothing predicts across (2 -> 8)
    assert batch.keep.tolist() == [0, 1, 3]
    assert batch.targets.tolist() == [6, 7, 9]
    assert batch.tokens == 5 and batch.n_targets == 3


def test_packed_attention_matches_examples_run_alone(tiny_dir: Path) -> None:
    net = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    examples = [[1, 2, 3, 4, 5, 6, 7], [9, 8, 7], [4, 4, 4, 4, 4]]
    with torch.no_grad():
        alone = [net(input_ids=torch.tensor([ids])).logits[0] for ids in examples]
        assert packing.supports_packing(net)
        packing.enable(net)
        batch = packing.pack([(ids, ids) for ids in examples])
        inputs = batch.model_inputs() | {"logits_to_keep": torch.arange(batch.tokens)}
        packed = net(**inputs).logits[0]
    assert torch.allclose(packed, torch.cat(alone), atol=1e-5)


# --- checkpoints ---------------------------------------------------------------------------


def fake_checkpoint(root: Path, step: int, valid_loss: float | None) -> checkpoints.Checkpoint:
    info = checkpoints.Checkpoint(step, 1, "", train_loss=1.0 / step, valid_loss=valid_loss)
    return checkpoints.save(root, info, lambda d: (d / "w.bin").write_bytes(b"w"), {"s": step})


def test_prune_keeps_the_last_k_and_the_best(tmp_path: Path) -> None:
    for step, loss in [(10, 2.0), (20, 0.5), (30, 1.5), (40, 1.2), (50, 1.1)]:
        fake_checkpoint(tmp_path, step, loss)
    removed = checkpoints.prune(tmp_path, keep_last=2)
    assert [c.step for c in removed] == [10, 30]
    assert [c.step for c in checkpoints.listed(tmp_path)] == [20, 40, 50]
    assert checkpoints.load_state(checkpoints.listed(tmp_path)[0]) == {"s": 20}


def test_best_falls_back_to_training_loss_without_validation(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        fake_checkpoint(tmp_path, step, None)
    best = checkpoints.best(checkpoints.listed(tmp_path))
    assert best is not None and best.step == 3  # train_loss 1/step


def test_half_written_checkpoints_are_never_listed(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, 1, 1.0)
    (tmp_path / ".staging-00000002").mkdir()
    (tmp_path / "step-00000003").mkdir()  # no checkpoint.json: killed before it was renamed
    assert [c.step for c in checkpoints.listed(tmp_path)] == [1]
    fake_checkpoint(tmp_path, 4, 1.0)
    assert not (tmp_path / ".staging-00000002").exists()


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken(directory: Path) -> None:
        raise OSError("disk full")

    info = checkpoints.Checkpoint(7, 1, "", train_loss=1.0)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save(tmp_path, info, broken, {})
    assert list(tmp_path.iterdir()) == []


# --- text scores ---------------------------------------------------------------------------


def test_identical_text_scores_one() -> None:
    text = ["the cat sat on the mat today"]
    assert scores.bleu4(text, text) == pytest.approx(1.0)
    assert scores.rouge(text, text) == pytest.approx({"rouge1": 1, "rouge2": 1, "rougeL": 1})


def test_bleu4_is_the_geometric_mean_of_clipped_precisions() -> None:
    value = scores.bleu4(["a b c d e f"], ["a b c d e g"])
    assert value == pytest.approx((5 / 6 * 4 / 5 * 3 / 4 * 2 / 3) ** 0.25)
    # a shorter hypothesis pays the brevity penalty
    short = scores.bleu4(["a b c d"], ["a b c d e f"])
    assert short == pytest.approx(math.exp(1 - 6 / 4))
    assert scores.bleu4(["x y z w"], ["a b c d"]) == 0.0


def test_cjk_text_is_scored_by_character() -> None:
    assert scores.tokens("東京に行く") == ["東", "京", "に", "行", "く"]
    assert scores.tokens("서울에 가요, OK?") == ["서", "울", "에", "가", "요", ",", "ok", "?"]
    result = scores.rouge(["東京に行く"], ["東京へ行く"])
    assert result["rouge1"] == pytest.approx(0.8)
    assert result["rouge2"] == pytest.approx(0.5)  # 東京, 行く of 4 bigrams each
    assert result["rougeL"] == pytest.approx(0.8)
    assert scores.rouge(["我爱北京"], ["我爱上海"])["rouge1"] == pytest.approx(0.5)


# --- resume --------------------------------------------------------------------------------


def make_spec(work: Path, tiny_dir: Path, **hp: Any) -> jobs.TrainingSpec:
    settings: dict[str, Any] = {
        "n_epochs": 2,
        "batch_size": 2,
        "max_seq_len": 48,
        "learning_rate": 1e-2,
        "lora_dropout": 0.1,  # draws from the RNG, which a resume must restore
        "save_steps": 2,
        "save_total_limit": 2,
        "eval_samples": 4,
    }
    return training_spec(work, tiny_dir, **{**settings, **hp})


def run(
    spec: jobs.TrainingSpec,
    stop_after_checkpoint: int | None = None,
    pause_after_step: int | None = None,
) -> list[dict[str, Any]]:
    return run_recipe(
        spec,
        [conversation(i) for i in range(14)],
        stop_after_checkpoint,
        pause_after_step=pause_after_step,
    )


@pytest.fixture(scope="module")
def straight(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    work = tmp_path_factory.mktemp("straight")
    return work, run(make_spec(work, tiny_dir))


def test_a_run_saves_checkpoints_and_evaluates(straight: tuple[Path, list[Any]]) -> None:
    work, events = straight
    (data_event,) = [e for e in events if e["event"] == "data"]
    assert data_event["validation_examples"] == 1 and data_event["packed"] is True
    assert data_event["total_steps"] == 14  # 13 training examples, batches of 2, 2 epochs
    saved = [e["step"] for e in events if e["event"] == "checkpoint"]
    assert saved == [2, 4, 6, 8, 10, 12, 14]
    kept = checkpoints.listed(work / "checkpoints")
    best = min((e for e in events if e["event"] == "checkpoint"), key=lambda e: e["valid_loss"])
    assert {c.step for c in kept} == {12, 14} | {best["step"]}
    assert all(c.perplexity == pytest.approx(math.exp(c.valid_loss or 0), rel=1e-3) for c in kept)
    (evaluated,) = [e for e in events if e["event"] == "evaluated"]
    assert {"valid_loss", "perplexity", "token_accuracy", "bleu4", "rouge1", "rougeL"} <= set(
        evaluated["metrics"]
    )
    assert (Path(kept[-1].path) / "adapter_config.json").is_file()


def test_a_stopped_run_resumes_to_the_same_weights(
    tiny_dir: Path, tmp_path: Path, straight: tuple[Path, list[Any]]
) -> None:
    straight_work, straight_events = straight
    spec = make_spec(tmp_path, tiny_dir)
    first = run(spec, stop_after_checkpoint=6)
    assert first[-1]["event"] == "checkpoint" and first[-1]["step"] == 6
    assert not (tmp_path / "output").exists()
    second = run(spec)
    (resumed,) = [e for e in second if e["event"] == "resumed"]
    assert resumed["step"] == 6
    assert min(e["step"] for e in second if e["event"] == "progress") == 7
    final, expected = adapter(tmp_path / "output"), adapter(straight_work / "output")
    for name, tensor in expected.items():
        assert torch.allclose(final[name], tensor, atol=1e-6), name
    done = next(e for e in second if e["event"] == "succeeded")
    reference = next(e for e in straight_events if e["event"] == "succeeded")
    assert done["trained_tokens"] == reference["trained_tokens"]
    assert done["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-4)


def test_a_paused_run_saves_its_step_and_resumes_to_the_same_weights(
    tiny_dir: Path, tmp_path: Path, straight: tuple[Path, list[Any]]
) -> None:
    straight_work, _ = straight
    spec = make_spec(tmp_path, tiny_dir)
    first = run(spec, pause_after_step=5)  # between two save points (every 2 steps)
    saved = [e for e in first if e["event"] == "checkpoint"]
    assert [e["step"] for e in saved] == [2, 4, 5] and saved[-1]["valid_loss"] is not None
    assert not (tmp_path / "output").exists()
    reported = [e for e in first if e["event"] == "progress"]
    assert all(0 <= e["accuracy"] <= 1 for e in reported)  # the step's token accuracy
    second = run(spec)
    (resumed,) = [e for e in second if e["event"] == "resumed"]
    assert resumed["step"] == 5
    final, expected = adapter(tmp_path / "output"), adapter(straight_work / "output")
    for name, tensor in expected.items():
        assert torch.allclose(final[name], tensor, atol=1e-6), name


def test_a_pause_right_after_a_save_saves_nothing_more(tiny_dir: Path, tmp_path: Path) -> None:
    events = run(make_spec(tmp_path, tiny_dir), pause_after_step=4)
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2, 4]


# --- what the service records --------------------------------------------------------------


def test_checkpoint_and_evaluation_events_fill_the_progress() -> None:
    state = Progress()
    for event in (
        protocol.Checkpoint(step=2, epoch=1, path="/c/2", train_loss=1.0),
        protocol.Checkpoint(step=4, epoch=1, path="/c/4", train_loss=0.8),
        protocol.CheckpointRemoved(step=2, path="/c/2"),
        protocol.Evaluated(metrics={"bleu4": 0.25, "rouge1": 0.5}),
    ):
        state = recording.apply(state, event)
    assert [c.step for c in state.checkpoints] == [4]
    assert state.metrics == {"bleu4": 0.25, "rouge1": 0.5}
    assert Progress.from_dict(json.loads(json.dumps(state.to_dict()))) == state
