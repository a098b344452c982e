"""DPO, "auto" hyperparameters, starting from an earlier job, and exporting its weights."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from tests.support.training import adapter, run_recipe, sum_chat, training_spec
from tuneyard import kinds
from tuneyard.core import jobs
from tuneyard.datasets.examples import Example, Message
from tuneyard.trainer import checkpoints, data, export, model, packing, preference

pytestmark = [
    pytest.mark.integration,  # trains the tiny models (no server)
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning"),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path) -> Any:
    return model.load_tokenizer(tiny_dir)


def pair(i: int) -> Example:
    """Prompt with some history; the chosen reply is polite, the rejected one rude."""
    return Example(
        (
            Message("user", f"Hello {i}"),
            Message("assistant", "Hi."),
            Message("user", f"Can you help with task {i % 9}?"),
        ),
        chosen=(Message("assistant", "Yes, gladly."),),
        rejected=(Message("assistant", "No, go away."),),
    )


def spec_for(work: Path, tiny_dir: Path, **kwargs: Any) -> jobs.TrainingSpec:
    settings: dict[str, Any] = {
        "n_epochs": 2,
        "batch_size": 4,
        "max_seq_len": 64,
        "learning_rate": 1e-2,
        "eval_samples": 2,
    }
    return training_spec(work, tiny_dir, **{**settings, **kwargs})


def named(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


def logits_of(net: Any, tokenizer: Any) -> torch.Tensor:
    ids = tokenizer("Can you help with task 3?", return_tensors="pt")["input_ids"]
    net.eval()
    with torch.no_grad():
        return net(input_ids=ids).logits


# --- DPO -------------------------------------------------------------------------------


def test_pairs_learn_only_the_final_reply(tokenizer: Any) -> None:
    (p,) = preference.tokenise([pair(1)], tokenizer, max_seq_len=128)
    for feature, reply in ((p.chosen, "Yes, gladly."), (p.rejected, "No, go away.")):
        assert isinstance(feature.labels, list)
        learnt = [t for t in feature.labels if t != data.IGNORE_INDEX]
        text = tokenizer.decode(learnt)
        assert text.startswith(reply) and "Hi." not in text  # not the earlier assistant turn
    assert p.length == p.chosen.length + p.rejected.length and p.n_targets == 1


def test_packed_and_padded_log_probabilities_agree(tiny_dir: Path, tokenizer: Any) -> None:
    pairs = preference.tokenise([pair(i) for i in range(3)], tokenizer, max_seq_len=128)
    features = [f for p in pairs for f in (p.chosen, p.rejected)]
    net = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    cpu = torch.device("cpu")
    with torch.no_grad():
        padded, padded_counts = preference.sequence_logps(
            net, features, packed=False, pad_id=tokenizer.pad_token_id, device=cpu
        )
        packing.enable(net)
        packed, packed_counts = preference.sequence_logps(
            net, features, packed=True, pad_id=tokenizer.pad_token_id, device=cpu
        )
    assert torch.allclose(packed, padded, atol=1e-4)
    assert packed_counts.tolist() == padded_counts.tolist() == [f.n_targets for f in features]


@pytest.fixture(scope="module")
def dpo_run(
    tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    work = tmp_path_factory.mktemp("dpo")
    spec = spec_for(
        work, tiny_dir, objective=kinds.Objective.DPO, learning_rate=5e-3, save_steps=4, n_epochs=3
    )
    return work, run_recipe(spec, [pair(i) for i in range(22)])


def test_dpo_learns_to_prefer_the_chosen_reply(dpo_run: tuple[Path, list[dict[str, Any]]]) -> None:
    work, events = dpo_run
    assert [e["stage"] for e in named(events, "preparing")][:3] == ["model", "data", "reference"]
    first, *_, last = named(events, "progress")
    assert first["loss"] == pytest.approx(0.6931, abs=2e-3)  # log 2: policy == reference
    assert last["loss"] < 0.5
    (evaluated,) = named(events, "evaluated")
    metrics = evaluated["metrics"]
    assert metrics["reward_accuracy"] == 1.0 and metrics["valid_loss"] < 0.3
    assert {"perplexity", "bleu4", "rougeL"} <= set(metrics)
    assert all(c["reward_accuracy"] is not None for c in named(events, "checkpoint"))
    assert (work / "dpo-reference-train.pt").is_file()
    manifest = json.loads((work / "output" / model.MANIFEST).read_text())
    assert manifest["objective"] == "dpo" and manifest["metrics"] == metrics


def test_a_resumed_dpo_run_keeps_its_reference(
    tiny_dir: Path, tmp_path: Path, dpo_run: tuple[Path, list[dict[str, Any]]]
) -> None:
    straight_work, _ = dpo_run
    spec = spec_for(
        tmp_path,
        tiny_dir,
        objective=kinds.Objective.DPO,
        learning_rate=5e-3,
        save_steps=4,
        n_epochs=3,
    )
    examples = [pair(i) for i in range(22)]
    run_recipe(spec, examples, stop_at_checkpoint=4)
    reference = torch.load(tmp_path / "dpo-reference-train.pt")
    second = run_recipe(spec, examples)
    assert named(second, "resumed")[0]["step"] == 4
    assert "reference" in [e["stage"] for e in named(second, "preparing")]
    assert torch.equal(torch.load(tmp_path / "dpo-reference-train.pt"), reference)
    final, expected = adapter(tmp_path / "output"), adapter(straight_work / "output")
    for name, tensor in expected.items():
        assert torch.allclose(final[name], tensor, atol=1e-6), name


# --- auto hyperparameters --------------------------------------------------------------


def test_auto_values_are_resolved_and_recorded(tiny_dir: Path, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, tiny_dir, n_epochs=1, auto=("batch_size", "learning_rate"))
    events = run_recipe(spec, [sum_chat(i) for i in range(20)])
    (data_event,) = named(events, "data")
    used = data_event["hyperparameters"]
    assert (used["batch_size"], used["learning_rate"], used["auto"]) == (4, 1e-4, [])
    assert data_event["total_steps"] == 5  # 18 training examples in batches of 4
    state = progress_after(events)
    assert state.hyperparameters == used
    manifest = json.loads((tmp_path / "output" / model.MANIFEST).read_text())
    assert manifest["hyperparameters"]["batch_size"] == 4


def test_a_validation_file_replaces_the_split(tiny_dir: Path, tmp_path: Path) -> None:
    held_out = tmp_path / "valid.jsonl"
    held_out.write_text(
        "".join(
            json.dumps({"messages": [{"role": m.role, "content": m.content} for m in e.messages]})
            + "\n"
            for e in (sum_chat(i) for i in range(100, 103))
        )
    )
    spec = dataclasses.replace(
        spec_for(tmp_path, tiny_dir, n_epochs=1, eval_samples=0, validation_split=0.5),
        validation_path=str(held_out),
        validation_filename="valid.jsonl",
        validation_format="openai-chat",
    )
    events = run_recipe(spec, [sum_chat(i) for i in range(20)])
    (data_event,) = named(events, "data")
    assert data_event["validation_examples"] == 3  # the file's, none split off
    assert data_event["total_steps"] == 5  # all 20 training examples, batches of 4
    (evaluated,) = named(events, "evaluated")
    assert evaluated["validation_examples"] == 3 and evaluated["metrics"]["valid_loss"] > 0


def test_cpt_learns_every_token_of_plain_documents(
    tiny_dir: Path, tmp_path: Path, tokenizer: Any
) -> None:
    docs = [Example((), text=f"Seven plus {i % 10} is {7 + i % 10}.") for i in range(40)]
    (feature,) = data.tokenise_text(docs[:1], tokenizer, 64)
    assert feature.labels == feature.input_ids and feature.input_ids[-1] == tokenizer.eos_token_id
    long = data.tokenise_text([Example((), text="x" * 150)], tokenizer, 64)
    assert [f.length for f in long] == [64, 64, 23]  # 150 bytes + the end token, in windows
    spec = spec_for(tmp_path, tiny_dir, objective=kinds.Objective.CPT, n_epochs=3, eval_samples=4)
    events = run_recipe(spec, docs)
    losses = [e["loss"] for e in named(events, "progress")]
    assert losses[-1] < losses[0] * 0.7
    (evaluated,) = named(events, "evaluated")
    assert "valid_loss" in evaluated["metrics"] and "bleu4" not in evaluated["metrics"]


def progress_after(events: list[dict[str, Any]]) -> jobs.Progress:
    from tuneyard.core import protocol, recording

    state = jobs.Progress()
    for event in events:
        decoded = protocol.decode(json.dumps(event))
        assert decoded is not None
        state = recording.apply(state, decoded)
    return state


# --- starting from an earlier job, and exporting -------------------------------------------


@pytest.fixture(scope="module")
def lora_parent(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("parent-lora")
    run_recipe(spec_for(work, tiny_dir, n_epochs=1), [sum_chat(i) for i in range(20)])
    return work


@pytest.fixture(scope="module")
def full_parent(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("parent-full")
    spec = spec_for(work, tiny_dir, n_epochs=1, method=kinds.Method.FULL, learning_rate=1e-3)
    run_recipe(spec, [sum_chat(i) for i in range(20)])
    return work


def build(tiny_dir: Path, tokenizer: Any, method: kinds.Method, **kwargs: Any) -> Any:
    return model.build(
        tiny_dir,
        task_type=kinds.TaskType.GENERATION,
        method=method,
        hyperparameters=jobs.Hyperparameters(),
        labels=None,
        pad_id=tokenizer.pad_token_id,
        **kwargs,
    )


def test_lora_continues_an_earlier_adapter(
    tiny_dir: Path, tokenizer: Any, lora_parent: Path
) -> None:
    (checkpoint,) = checkpoints.listed(lora_parent / "checkpoints")
    net = build(
        tiny_dir,
        tokenizer,
        kinds.Method.LORA,
        start_from=Path(checkpoint.path),
        start_method=kinds.Method.LORA,
    )
    saved = adapter(Path(checkpoint.path))
    state = {
        name.replace(".default", ""): p for name, p in net.named_parameters() if "lora_" in name
    }
    assert len(saved) == len(state)
    for name, tensor in saved.items():
        assert torch.equal(state[name], tensor) and state[name].requires_grad, name


def test_full_training_starts_from_an_adapter_merged(
    tiny_dir: Path, tokenizer: Any, lora_parent: Path
) -> None:
    parent = model.load_adapter(
        model.load(tiny_dir, task_type=kinds.TaskType.GENERATION, labels=None, pad_id=0),
        lora_parent / "output",
        trainable=False,
    )
    net = build(
        tiny_dir,
        tokenizer,
        kinds.Method.FULL,
        start_from=lora_parent / "output",
        start_method=kinds.Method.LORA,
    )
    assert not any("lora_" in name for name, _ in net.named_parameters())
    assert all(p.requires_grad for p in net.parameters())
    assert torch.allclose(logits_of(net, tokenizer), logits_of(parent, tokenizer), atol=1e-5)


def test_lora_on_an_earlier_full_model(tiny_dir: Path, tokenizer: Any, full_parent: Path) -> None:
    net = build(
        tiny_dir,
        tokenizer,
        kinds.Method.LORA,
        start_from=full_parent / "output",
        start_method=kinds.Method.FULL,
    )
    parent = transformers.AutoModelForCausalLM.from_pretrained(full_parent / "output")
    assert torch.allclose(logits_of(net, tokenizer), logits_of(parent, tokenizer), atol=1e-5)


def test_a_job_started_from_a_checkpoint_records_where_it_began(
    tiny_dir: Path, tmp_path: Path, lora_parent: Path
) -> None:
    (checkpoint,) = checkpoints.listed(lora_parent / "checkpoints")
    spec = spec_for(
        tmp_path,
        tiny_dir,
        n_epochs=1,
        start_from=Path(checkpoint.path),
        start_method=kinds.Method.LORA,
    )
    events = run_recipe(spec, [sum_chat(i) for i in range(20)])
    assert named(events, "succeeded")
    manifest = json.loads((tmp_path / "output" / model.MANIFEST).read_text())
    assert manifest["start_from"] == checkpoint.path
    assert manifest["weights_base"] == str(tiny_dir)


def test_export_copies_an_adapter_without_training_state(
    tmp_path: Path, lora_parent: Path, tiny_dir: Path, tokenizer: Any
) -> None:
    (checkpoint,) = checkpoints.listed(lora_parent / "checkpoints")
    export.export(Path(checkpoint.path), tmp_path / "adapter", merged=False)
    files = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", model.MANIFEST} <= files
    assert not files & {checkpoints.STATE, checkpoints.INFO}
    exported, saved = adapter(tmp_path / "adapter"), adapter(Path(checkpoint.path))
    assert exported.keys() == saved.keys()
    assert all(torch.equal(exported[k], saved[k]) for k in saved)
    import peft

    loaded = peft.AutoPeftModelForCausalLM.from_pretrained(tmp_path / "adapter")
    assert isinstance(loaded, peft.PeftModel)


def test_merged_export_is_a_whole_model_with_the_same_outputs(
    tmp_path: Path, lora_parent: Path, tiny_dir: Path, tokenizer: Any
) -> None:
    source = lora_parent / "output"
    assert export.main([str(source), str(tmp_path / "merged"), "--merged"]) == 0
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    merged = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    with_adapter = model.load_adapter(
        model.load(tiny_dir, task_type=kinds.TaskType.GENERATION, labels=None, pad_id=0),
        source,
        trainable=False,
    )
    assert torch.allclose(
        logits_of(merged, tokenizer), logits_of(with_adapter, tokenizer), atol=1e-5
    )
    manifest = json.loads((tmp_path / "merged" / model.MANIFEST).read_text())
    assert manifest["method"] == "full" and manifest["merged_from"] == str(source)
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "merged") is not None


def test_export_refuses_a_folder_without_weights(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no saved model"):
        export.export(tmp_path, tmp_path / "out", merged=True)
    assert export.main([str(tmp_path), str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()
