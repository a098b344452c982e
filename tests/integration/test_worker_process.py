"""The training worker: loss masking, tiny seeded runs, saved outputs, and the process protocol."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from tests.support.training import sum_chat
from tuneyard import kinds
from tuneyard.basemodels import minilm
from tuneyard.core import jobs, protocol
from tuneyard.datasets.examples import Example, Message
from tuneyard.trainer import data, model, recipe, report

pytestmark = pytest.mark.integration  # trains the tiny models (no server)

REPO_ROOT = Path(__file__).resolve().parents[2]
PEFT_DEPRECATION = "ignore:.*is_gradient_checkpointing:FutureWarning"


def conversation(i: int) -> Example:
    return sum_chat(i, follow_up=True)


def review(i: int) -> Example:
    good = i % 2 == 0
    text = f"I {'loved' if good else 'hated'} item {i}, it was {'great' if good else 'awful'}."
    return Example((Message("user", text),), label="positive" if good else "negative")


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_dir: Path) -> Any:
    return model.load_tokenizer(tiny_dir)


def make_spec(
    out: Path,
    *,
    base: jobs.BaseModelRef,
    task_type: kinds.TaskType = kinds.TaskType.GENERATION,
    method: kinds.Method = kinds.Method.LORA,
    dataset: Path | None = None,
    **hyperparameters: Any,
) -> jobs.TrainingSpec:
    settings = {"n_epochs": 2, "batch_size": 4, "max_seq_len": 48, "learning_rate": 1e-2}
    settings.update(hyperparameters)
    return jobs.TrainingSpec(
        job_id="job-1",
        task_type=task_type,
        method=method,
        base_model=base,
        dataset_path=str(dataset or out.parent / "unused.jsonl"),
        dataset_filename="train.jsonl",
        hyperparameters=jobs.Hyperparameters(**settings),
        output_dir=str(out),
        work_dir=str(out.parent),
    )


@dataclasses.dataclass
class Run:
    events: list[dict[str, Any]]
    net: torch.nn.Module
    before: dict[str, torch.Tensor]
    out: Path

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


def run_in_process(spec: jobs.TrainingSpec, examples: Sequence[Example]) -> Run:
    """Run the recipe on `examples`, capturing the model it builds and its starting weights."""
    captured: dict[str, Any] = {}
    real_build = model.build

    def build(*args: Any, **kwargs: Any) -> torch.nn.Module:
        net = real_build(*args, **kwargs)
        captured["net"] = net
        captured["before"] = {n: p.detach().clone() for n, p in net.named_parameters()}
        return net

    stream = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "load_examples", lambda spec: list(examples))
        patch.setattr(model, "build", build)
        recipe.run(spec, report.Reporter(stream), lambda: False)
    events = [protocol.decode(line) for line in stream.getvalue().splitlines()]
    assert all(e is not None for e in events)
    return Run(
        [protocol.wire(e) for e in events if e],
        captured["net"],
        captured["before"],
        Path(spec.output_dir),
    )


@pytest.fixture(scope="module")
def lora_run(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir))
    out = tmp_path_factory.mktemp("lora") / "out"
    return run_in_process(make_spec(out, base=base), [conversation(i) for i in range(24)])


# --- tokenising ----------------------------------------------------------------------------


def test_labels_cover_only_assistant_turns(tiny_tokenizer: Any) -> None:
    (feature,) = data.tokenise_generation([conversation(3)], tiny_tokenizer, max_seq_len=512)
    assert isinstance(feature.labels, list)
    learned = [t for t, label in zip(feature.input_ids, feature.labels, strict=True) if label >= 0]
    ignored = [t for t, label in zip(feature.input_ids, feature.labels, strict=True) if label < 0]
    assert tiny_tokenizer.decode(learned) == "6<|end|>6!<|end|>"
    assert tiny_tokenizer.decode(ignored) == (
        "<|system|>You add numbers.<|end|><|user|>3+3?<|end|><|assistant|>"
        "<|user|>Again, louder.<|end|><|assistant|>"
    )
    assert all(
        label in (t, data.IGNORE_INDEX)
        for t, label in zip(feature.input_ids, feature.labels, strict=True)
    )


def test_truncation_drops_the_prompt_first(tiny_tokenizer: Any) -> None:
    long = Example((Message("user", "x" * 100), Message("assistant", "answer")))
    (feature,) = data.tokenise_generation([long], tiny_tokenizer, max_seq_len=16)
    assert len(feature.input_ids) == 16
    assert tiny_tokenizer.decode(feature.input_ids).endswith("<|assistant|>answer<|end|>")


def test_classification_maps_sorted_labels(tiny_tokenizer: Any) -> None:
    examples = [review(i) for i in range(4)]
    labels = data.label_names(examples)
    features = data.tokenise_classification(examples, tiny_tokenizer, 16, labels)
    assert labels == ["negative", "positive"]
    assert [f.labels for f in features] == [1, 0, 1, 0]
    assert all(len(f.input_ids) <= 16 for f in features)


def test_collate_pads_to_the_longest() -> None:
    batch = [data.Feature([1, 2, 3], [-100, 2, 3]), data.Feature([4], [4])]
    tensors = data.collate(batch, pad_id=0)
    assert tensors["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert tensors["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert tensors["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    lengths = [5, 50, 7, 48, 6, 52, 9, 47, 51, 8]
    first = data.epoch_batches(lengths, 2, seed=1, epoch=1, group_by_length=False)
    assert first == data.epoch_batches(lengths, 2, seed=1, epoch=1, group_by_length=False)
    assert first != data.epoch_batches(lengths, 2, seed=1, epoch=2, group_by_length=False)
    assert sorted(i for batch in first for i in batch) == list(range(10))


def test_length_grouping_pads_less() -> None:
    lengths = [(i * 37) % 200 + 1 for i in range(400)]

    def padding(batches: list[list[int]]) -> int:
        return sum(
            max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches
        )

    grouped = data.epoch_batches(lengths, 8, seed=3, epoch=1, group_by_length=True)
    shuffled = data.epoch_batches(lengths, 8, seed=3, epoch=1, group_by_length=False)
    assert sorted(i for b in grouped for i in b) == list(range(400))
    assert padding(grouped) * 5 < padding(shuffled)


def test_validation_split_is_seeded_and_bounded() -> None:
    items = [conversation(i) for i in range(40)]
    train, valid = data.split_validation(items, 0.1, seed=7)
    assert len(valid) == 4 and len(train) == 36
    assert (train, valid) == data.split_validation(items, 0.1, seed=7)
    assert data.split_validation(items[:9], 0.1, seed=7) == (items[:9], [])
    assert data.split_validation(items, 0.0, seed=7) == (items, [])


# --- reporting -----------------------------------------------------------------------------


def test_eta_waits_for_a_steady_rate_then_follows_the_work_left() -> None:
    work = [1.0] * 100 + [3.0] * 100  # the second half's steps cost three times as much
    eta = report.Eta(work)
    assert eta.observe(1, 10.0) is None  # the first step only anchors the rate
    assert eta.observe(4, 13.0) is None  # 3 steps, but under 5% of the work
    assert eta.observe(21, 30.0) == pytest.approx(79 + 300)
    assert eta.observe(150, 10.0 + 249) == pytest.approx(50 * 3)


def test_eta_counts_the_checkpoints_still_to_save() -> None:
    eta = report.Eta([1.0] * 100, saves={50, 100}, save_work=10.0)
    eta.observe(1, 0.0)
    # before any save is measured, a save costs its validation work at the training rate
    assert eta.observe(21, 20.0) == pytest.approx(79 + 2 * 10)
    eta.saved(30.0)  # the save after step 50 took 30 s; the training rate is unchanged
    assert eta.observe(61, 90.0) == pytest.approx(39 + 30)
    assert eta.observe(100, 129.0) == pytest.approx(30)  # the last save is still to come


def test_the_reporter_times_saves_on_its_own_clock() -> None:
    now = [0.0]
    stream = io.StringIO()
    reporter = report.Reporter(stream, clock=lambda: now[0], interval_s=0.0)
    reporter.start(total_steps=100, total_epochs=1, work=[1.0] * 100, saves={50, 100})
    for step in range(1, 51):
        now[0] = float(step)
        reporter.step(step, 1, torch.tensor(1.0), 10)
    with reporter.saving():
        now[0] += 30.0  # the save after step 50 takes 30 s of the reporter's clock
    now[0] += 1.0
    reporter.step(51, 1, torch.tensor(1.0), 10)
    last = [json.loads(line) for line in stream.getvalue().splitlines()][-1]
    assert last["remaining_s"] == pytest.approx(49 + 30)  # rate 1 step/s, one save left


def test_progress_is_throttled_but_the_last_step_is_reported() -> None:
    now = [0.0]
    stream = io.StringIO()
    reporter = report.Reporter(stream, clock=lambda: now[0])
    reporter.start(total_steps=5, total_epochs=1, work=[1.0] * 5)
    for step in range(1, 6):
        now[0] += 0.2
        reporter.step(step, 1, torch.tensor(2.0), tokens=10)
    steps = [json.loads(line)["step"] for line in stream.getvalue().splitlines()]
    assert steps == [1, 4, 5]
    assert json.loads(stream.getvalue().splitlines()[-1])["trained_tokens"] == 50


# --- tiny seeded runs ----------------------------------------------------------------------


def test_lora_run_reports_in_protocol_order(lora_run: Run) -> None:
    names = [e["event"] for e in lora_run.events]
    assert names[:3] == ["preparing", "preparing", "data"]
    assert names[-2:] == ["saved", "succeeded"]
    (data_event,) = lora_run.named("data")
    assert data_event["rows"] == 48 and data_event["conversations"] == 24
    assert data_event["total_steps"] == 12 and data_event["labels"] is None
    assert lora_run.named("progress")[-1]["step"] == 12
    assert lora_run.named("succeeded")[0]["trained_tokens"] == 2 * data_event["tokens"]


def test_lora_run_lowers_the_loss(lora_run: Run) -> None:
    first, second = (e["loss"] for e in lora_run.named("epoch"))
    assert second < first


def test_lora_run_trains_adapters_and_freezes_the_base(lora_run: Run) -> None:
    params = dict(lora_run.net.named_parameters())
    trainable = [n for n, p in params.items() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    for name, param in params.items():
        changed = not torch.equal(param.detach(), lora_run.before[name])
        assert changed == param.requires_grad, name


@pytest.mark.filterwarnings(PEFT_DEPRECATION)
def test_saved_adapter_loads_and_generates(lora_run: Run, tiny_dir: Path) -> None:
    import peft

    assert (lora_run.out / "adapter_config.json").is_file()
    assert (lora_run.out / "adapter_model.safetensors").is_file()
    manifest = json.loads((lora_run.out / model.MANIFEST).read_text())
    assert manifest["base_model"] == "tiny-chat" and manifest["method"] == "lora"
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
    tuned = peft.PeftModel.from_pretrained(base, lora_run.out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(lora_run.out)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    lora_run.net.eval()
    with torch.no_grad():
        assert torch.allclose(tuned(**inputs).logits, lora_run.net(**inputs).logits, atol=1e-5)
        out = tuned.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_full_run_saves_a_whole_model(tiny_dir: Path, tmp_path: Path) -> None:
    base = jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir))
    spec = make_spec(tmp_path / "out", base=base, method=kinds.Method.FULL, n_epochs=1)
    run = run_in_process(spec, [conversation(i) for i in range(8)])
    assert run.named("saved")[0]["format"] == "full"
    assert all(p.requires_grad for p in run.net.parameters())
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(run.out)
    original = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
    name = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(reloaded.state_dict()[name], original.state_dict()[name])
    assert not list(tmp_path.glob("out.tmp-*"))


@pytest.mark.filterwarnings(PEFT_DEPRECATION)
def test_classification_with_minilm_saves_and_reloads(tmp_path: Path) -> None:
    import peft

    base = jobs.BaseModelRef("minilm-l6", "minilm-l6", None)
    spec = make_spec(
        tmp_path / "out",
        base=base,
        task_type=kinds.TaskType.CLASSIFICATION,
        n_epochs=1,
        max_seq_len=16,
        learning_rate=5e-3,
    )
    run = run_in_process(spec, [review(i) for i in range(40)])
    assert run.named("data")[0]["labels"] == ["negative", "positive"]
    assert run.named("saved")[0]["format"] == "peft"
    assert json.loads((run.out / model.MANIFEST).read_text())["labels"] == ["negative", "positive"]
    classifier = transformers.AutoModelForSequenceClassification.from_pretrained(
        minilm.model_dir(), num_labels=2
    )
    tuned = peft.PeftModel.from_pretrained(classifier, run.out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(run.out)
    inputs = tokenizer(["I loved item 99, it was great."], return_tensors="pt")
    run.net.eval()
    with torch.no_grad():
        assert torch.allclose(tuned(**inputs).logits, run.net(**inputs).logits, atol=1e-5)


# --- the worker process --------------------------------------------------------------------


def write_clova_jsonl(path: Path, conversations: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for c_id in range(conversations):
            for t_id in range(2):
                row = {
                    "System_Prompt": "You add numbers.",
                    "C_ID": c_id,
                    "T_ID": t_id,
                    "Text": f"{c_id % 7}+{t_id}?",
                    "Completion": str(c_id % 7 + t_id),
                }
                handle.write(json.dumps(row) + "\n")
    return path


@dataclasses.dataclass
class Worker:
    process: subprocess.Popen[str]
    stderr: Path

    def events(self) -> Iterator[dict[str, Any]]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = protocol.decode(line)
            assert event is not None, f"not a protocol line on stdout: {line!r}"
            yield protocol.wire(event)

    def describe(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")[-3000:]


@contextlib.contextmanager
def worker_for(spec: jobs.TrainingSpec, tmp_path: Path) -> Iterator[Worker]:
    """`python -m tuneyard.trainer spec.json` as a child process, killed if still running."""
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec.to_dict()), encoding="utf-8")
    stderr = tmp_path / "stderr.txt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    with (
        stderr.open("w") as stderr_file,
        subprocess.Popen(
            [sys.executable, "-m", "tuneyard.trainer", str(spec_path)],
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            cwd=REPO_ROOT,
            env=env,
        ) as process,
    ):
        try:
            yield Worker(process, stderr)
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.integration
def test_worker_runs_a_job_to_success(tiny_dir: Path, tmp_path: Path) -> None:
    base = jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir))
    dataset = write_clova_jsonl(tmp_path / "train.jsonl", conversations=50)
    spec = make_spec(tmp_path / "out", base=base, dataset=dataset)
    with worker_for(spec, tmp_path) as worker:
        names = [e["event"] for e in worker.events()]
        assert worker.process.wait(timeout=60) == protocol.EXIT_OK, worker.describe()
    first_progress = names.index("progress")
    assert set(names[: names.index("data")]) == {"preparing"}
    assert names.index("data") < first_progress < names.index("saved")
    assert names[-2:] == ["saved", "succeeded"]
    assert names.count("epoch") == 2
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


@pytest.mark.integration
def test_worker_stops_on_sigterm_without_output(tiny_dir: Path, tmp_path: Path) -> None:
    base = jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir))
    dataset = write_clova_jsonl(tmp_path / "train.jsonl", conversations=50)
    spec = make_spec(
        tmp_path / "out", base=base, dataset=dataset, method=kinds.Method.FULL, n_epochs=100
    )
    with worker_for(spec, tmp_path) as worker:
        events = worker.events()
        started = next(e for e in events if e["event"] in ("progress", "failed"))
        assert started["event"] == "progress", worker.describe()
        signalled = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        rest = list(events)
        assert rest[-1]["event"] == "cancelled" and rest[-1]["step"] >= 1, worker.describe()
        assert worker.process.wait(timeout=30) == protocol.EXIT_CANCELLED
        assert time.monotonic() - signalled < 2.0  # the brief's bound is 1 s; slack for CI
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("out.*"))


@pytest.mark.integration
def test_worker_pauses_on_sigusr1_with_a_checkpoint(tiny_dir: Path, tmp_path: Path) -> None:
    base = jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir))
    dataset = write_clova_jsonl(tmp_path / "train.jsonl", conversations=50)
    spec = make_spec(tmp_path / "out", base=base, dataset=dataset, n_epochs=100)
    with worker_for(spec, tmp_path) as worker:
        events = worker.events()
        started = next(e for e in events if e["event"] in ("progress", "failed"))
        assert started["event"] == "progress", worker.describe()
        worker.process.send_signal(signal.SIGUSR1)
        rest = list(events)
        assert rest[-1]["event"] == "paused", worker.describe()
        step = rest[-1]["step"]
        assert step >= 1 and [e["step"] for e in rest if e["event"] == "checkpoint"][-1] == step
        assert worker.process.wait(timeout=30) == protocol.EXIT_PAUSED
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_worker_fails_on_a_missing_base_model(tmp_path: Path) -> None:
    base = jobs.BaseModelRef("mine", "path", str(tmp_path / "no-such-model"))
    with worker_for(make_spec(tmp_path / "out", base=base), tmp_path) as worker:
        events = list(worker.events())
        assert worker.process.wait(timeout=60) == protocol.EXIT_FAILED
    assert events[-1]["event"] == "failed"
    assert events[-1]["code"] == "train.unknown"
    assert events[-1]["message"].startswith("FileNotFoundError: base model mine")
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_worker_reports_an_invalid_training_file(tiny_dir: Path, tmp_path: Path) -> None:
    base = jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir))
    dataset = write_clova_jsonl(tmp_path / "train.jsonl", conversations=3)
    with dataset.open("a", encoding="utf-8") as handle:
        handle.write('{"C_ID": 9, "T_ID": 0, "Text": "unterminated\n')
    with worker_for(make_spec(tmp_path / "out", base=base, dataset=dataset), tmp_path) as worker:
        events = list(worker.events())
        assert worker.process.wait(timeout=60) == protocol.EXIT_FAILED
    assert events[-1]["event"] == "failed" and events[-1]["code"] == "file.format"
    assert "Invalid json format" in events[-1]["message"]


@pytest.mark.integration
def test_a_killed_worker_resumes_from_its_last_checkpoint(tiny_dir: Path, tmp_path: Path) -> None:
    base = jobs.BaseModelRef("tiny-chat", "tiny-chat", str(tiny_dir))
    dataset = write_clova_jsonl(tmp_path / "train.jsonl", conversations=50)
    spec = make_spec(
        tmp_path / "out", base=base, dataset=dataset, n_epochs=3, save_steps=3, eval_samples=2
    )
    with worker_for(spec, tmp_path) as worker:
        saved = next(e for e in worker.events() if e["event"] in ("checkpoint", "failed"))
        assert saved["event"] == "checkpoint", worker.describe()
        worker.process.send_signal(signal.SIGKILL)  # no chance to clean up
        assert worker.process.wait(timeout=30) == -signal.SIGKILL
    assert not (tmp_path / "out").exists()
    with worker_for(spec, tmp_path) as worker:
        events = list(worker.events())
        assert worker.process.wait(timeout=120) == protocol.EXIT_OK, worker.describe()
    names = [e["event"] for e in events]
    resumed = events[names.index("resumed")]
    assert resumed["step"] >= saved["step"]
    assert names.index("data") < names.index("resumed") < names.index("progress")
    first_step = next(e["step"] for e in events if e["event"] == "progress")
    assert first_step > resumed["step"]
    assert names[-2:] == ["saved", "succeeded"]
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
