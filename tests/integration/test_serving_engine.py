"""The inference engine on tiny-chat: parity with transformers + peft `generate`, mixed
batches, sampling, limits, adapter eviction, classification, and the worker process.

The adapters are PEFT LoRA adapters made on the spot (random non-zero `lora_B`, saved with
the tokenizer as jobs save them) plus the output and a checkpoint of a short real training
run; the full fine-tuned model is tiny-chat with perturbed weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peft
import pytest
import torch
import transformers

from tests.support.serving import perturbed, random_lora
from tests.support.training import run_recipe, sum_chat, training_spec
from tuneyard.basemodels import minilm, tinychat
from tuneyard.serving import engine as engine_module
from tuneyard.serving import llama, protocol
from tuneyard.serving.protocol import Generate, Sampling, Target

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    [{"role": "user", "content": "Repeat: banana"}],
    [{"role": "system", "content": "You add numbers."}, {"role": "user", "content": "3+4?"}],
    [{"role": "user", "content": "Repeat: the quick brown fox jumps over the lazy dog"}],
    [{"role": "user", "content": "Reverse the words: alpha beta gamma delta"}],
]


# -- models made for the tests ------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serving")
    work = root / "job"
    work.mkdir()
    spec = training_spec(
        work,
        tiny_dir,
        n_epochs=1,
        batch_size=2,
        max_seq_len=48,
        learning_rate=2e-2,
        save_steps=2,
        eval_samples=0,
    )
    run_recipe(spec, [sum_chat(i) for i in range(12)])
    checkpoint = sorted((work / "checkpoints").glob("step-*"))[0]
    return {
        "a": random_lora(tiny_dir, root / "lora-a", 1),
        "b": random_lora(tiny_dir, root / "lora-b", 2),
        "c": random_lora(
            tiny_dir,
            root / "lora-c",
            3,
            r=4,
            lora_alpha=8,
            use_rslora=True,
            target_modules=["q_proj", "v_proj", "down_proj"],
            alpha_pattern={"v_proj": 32},
        ),
        "full": perturbed(tiny_dir, root / "full", 4),
        # seeded random weights: its greedy reply never ends (it repeats one byte)
        "untrained": tinychat.build_untrained(root / "untrained"),
        "trained": work / "output",
        "checkpoint": checkpoint,
    }


@pytest.fixture(scope="module")
def shared_engine() -> engine_module.Engine:
    return engine_module.Engine(max_loaded_adapters=8, max_loaded_models=4)


@pytest.fixture
def engine(shared_engine: engine_module.Engine) -> Iterator[engine_module.Engine]:
    """The module's engine, left idle after each test (whatever the test left in it)."""
    yield shared_engine
    for request_id in shared_engine.requests:
        shared_engine.cancel(request_id)
    shared_engine.step()
    assert not shared_engine.busy


# -- helpers ------------------------------------------------------------------------------


class Outcome:
    """What one request produced: tokens per choice, text per choice, its events."""

    def __init__(self) -> None:
        self.tokens: dict[int, list[int]] = {}
        self.text: dict[int, str] = {}
        self.events: list[protocol.Event] = []

    def reason(self, index: int = 0) -> str:
        return next(
            e.reason for e in self.events if isinstance(e, protocol.Finished) and e.index == index
        )


def run_all(
    engine: engine_module.Engine,
    requests: list[Generate],
    join_after: dict[str, int] | None = None,
) -> dict[str, Outcome]:
    """Run `requests` to the end in one engine; `join_after[id]` submits that request only
    after that many steps (it joins a running batch)."""
    join_after = join_after or {}
    outcomes = {r.id: Outcome() for r in requests}

    def trace(request_id: str, index: int, token: int) -> None:
        outcomes[request_id].tokens.setdefault(index, []).append(token)

    def record(events: list[protocol.Event]) -> None:
        for event in events:
            outcome = outcomes[event.id]
            outcome.events.append(event)
            if isinstance(event, protocol.Token):
                outcome.text[event.index] = outcome.text.get(event.index, "") + event.text

    engine.trace = trace
    steps = 0
    pending = list(requests)
    try:
        while pending or engine.busy:
            for request in [r for r in pending if join_after.get(r.id, 0) <= steps]:
                pending.remove(request)
                record(engine.submit(request))
            record(engine.step())
            steps += 1
            assert steps < 5000
    finally:
        engine.trace = None
    return outcomes


def generate(
    target: Target, messages: list[dict[str, str]], request_id: str = "r", n: int = 1, **values: Any
) -> Generate:
    values.setdefault("temperature", 0.0)
    values.setdefault("max_tokens", 48)
    return Generate(
        id=request_id, target=target, messages=tuple(messages), sampling=Sampling(**values), n=n
    )


def reference(
    base: Path,
    adapter: Path | None,
    messages: list[dict[str, str]],
    new_tokens: int,
    merged: bool = False,
) -> list[int]:
    """What transformers (+ peft) `generate(do_sample=False)` gives."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(adapter or base)
    net = transformers.AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        net = peft.PeftModel.from_pretrained(net, adapter)
        if merged:
            net = net.merge_and_unload()
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    encoded = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        output = net.eval().generate(
            **encoded,
            max_new_tokens=new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return [int(t) for t in output[0, encoded["input_ids"].shape[1] :]]


def alone(engine: engine_module.Engine, request: Generate) -> Outcome:
    return run_all(engine, [request])[request.id]


# -- the ragged forward ---------------------------------------------------------------------


def test_the_ragged_forward_gives_the_model_logits_with_grouped_query_attention() -> None:
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = transformers.LlamaForCausalLM(config).eval()
    runner = llama.Llama(net)
    first, second = list(range(3, 20)), list(range(30, 37))
    caches = [runner.new_cache(4), runner.new_cache(4)]
    from tuneyard.serving import batch

    # the first sequence in two chunks (the second chunk attends to the first's cache)
    runner.forward([batch.Row(first[:9], caches[0], logits=False), batch.Row(second, caches[1])])
    logits = runner.forward([batch.Row(first[9:], caches[0]), batch.Row([5], caches[1])])
    with torch.no_grad():
        expected_first = net(torch.tensor([first])).logits[0, -1]
        expected_second = net(torch.tensor([[*second, 5]])).logits[0, -1]
    torch.testing.assert_close(logits[0], expected_first, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits[1], expected_second, atol=1e-4, rtol=1e-4)
    assert caches[0].length == len(first) and caches[1].length == len(second) + 1


# -- parity with transformers + peft ---------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "c", "trained", "checkpoint"])
def test_a_lora_reply_equals_peft_generate_token_for_token(
    name: str, made: dict[str, Path], tiny_dir: Path, engine: engine_module.Engine
) -> None:
    adapter = made[name]
    for i, messages in enumerate(PROMPTS[:2]):
        request = generate(Target(base=str(tiny_dir), adapter=str(adapter)), messages, f"{name}{i}")
        served = alone(engine, request).tokens[0]
        assert served == reference(tiny_dir, adapter, messages, 48)
        assert served == reference(tiny_dir, adapter, messages, 48, merged=True)


def test_the_random_adapters_do_change_the_reply(
    made: dict[str, Path], tiny_dir: Path, engine: engine_module.Engine
) -> None:
    replies = {
        alone(engine, generate(Target(base=str(tiny_dir), adapter=str(made[k])), PROMPTS[0])).text[
            0
        ]
        for k in ("a", "b", "c")
    }
    base = alone(engine, generate(Target(base=str(tiny_dir)), PROMPTS[0])).text[0]
    assert len(replies | {base}) == 4


@pytest.mark.parametrize("name", ["full", "base"])
def test_a_whole_model_reply_equals_generate(
    name: str, made: dict[str, Path], tiny_dir: Path, engine: engine_module.Engine
) -> None:
    folder = tiny_dir if name == "base" else made[name]
    for i, messages in enumerate(PROMPTS):
        served = alone(engine, generate(Target(base=str(folder)), messages, f"{name}{i}"))
        assert served.tokens[0] == reference(folder, None, messages, 48)


def test_the_text_is_the_decoded_tokens(tiny_dir: Path, engine: engine_module.Engine) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_dir)
    served = alone(engine, generate(Target(base=str(tiny_dir)), PROMPTS[2], max_tokens=64))
    assert served.text[0] == tokenizer.decode(served.tokens[0], skip_special_tokens=True)
    done = served.events[-1]
    assert isinstance(done, protocol.Done) and done.completion_tokens == len(served.tokens[0])
    assert isinstance(served.events[0], protocol.Accepted)
    assert served.events[0].prompt_tokens == done.prompt_tokens


# -- mixed batches ----------------------------------------------------------------------------


def test_a_request_in_a_mixed_batch_gets_the_tokens_it_gets_alone(
    made: dict[str, Path], tiny_dir: Path, engine: engine_module.Engine
) -> None:
    targets = {
        "a": Target(base=str(tiny_dir), adapter=str(made["a"])),
        "b": Target(base=str(tiny_dir), adapter=str(made["b"])),
        "c": Target(base=str(tiny_dir), adapter=str(made["c"])),
        "base": Target(base=str(tiny_dir)),
        "full": Target(base=str(made["full"])),
    }
    requests = [
        generate(target, PROMPTS[i % len(PROMPTS)], f"{name}-{i}", max_tokens=24 + 8 * i)
        for i, (name, target) in enumerate(targets.items())
    ]
    requests += [
        generate(targets["a"], PROMPTS[3], "late-a"),
        generate(targets["b"], PROMPTS[2], "late-b"),
    ]
    mixed = run_all(engine, requests, join_after={"late-a": 5, "late-b": 11})
    for request in requests:
        assert mixed[request.id].tokens == alone(engine, request).tokens, request.id


def test_prompts_prefilled_in_chunks_and_a_full_batch_change_no_token(
    made: dict[str, Path], tiny_dir: Path, engine: engine_module.Engine
) -> None:
    """With 7 tokens a step, prompts are prefilled over several steps beside decoding
    rows; with room for 3 sequences, the rest wait for a free slot."""
    tight = engine_module.Engine(max_step_tokens=7, max_running=3)
    requests = [
        generate(Target(base=str(tiny_dir), adapter=str(made[k])), PROMPTS[i % 4], f"{k}{i}")
        for i, k in enumerate(["a", "b", "c", "a", "b"])
    ]
    requests.append(generate(Target(base=str(tiny_dir)), PROMPTS[2], "two", n=2))
    served = run_all(tight, requests)
    for request in requests:
        assert served[request.id].tokens == alone(engine, request).tokens, request.id


def test_seeded_sampling_is_reproducible_in_any_batch(
    made: dict[str, Path], tiny_dir: Path, engine: engine_module.Engine
) -> None:
    target = Target(base=str(tiny_dir), adapter=str(made["a"]))
    seeded = generate(target, PROMPTS[0], "seeded", temperature=1.0, top_p=0.95, seed=11)
    first = alone(engine, seeded).tokens
    assert alone(engine, seeded).tokens == first
    others = [
        generate(Target(base=str(tiny_dir)), PROMPTS[1], "other", temperature=1.0),
        generate(Target(base=str(tiny_dir), adapter=str(made["b"])), PROMPTS[2], "greedy"),
    ]
    assert run_all(engine, [*others, seeded], join_after={"seeded": 3})["seeded"].tokens == first
    reseeded = generate(target, PROMPTS[0], "reseeded", temperature=1.0, top_p=0.95, seed=12)
    assert alone(engine, reseeded).tokens != first


def test_n_choices_share_the_prompt(tiny_dir: Path, engine: engine_module.Engine) -> None:
    target = Target(base=str(tiny_dir))
    single = alone(engine, generate(target, PROMPTS[1], "one"))
    greedy = alone(engine, generate(target, PROMPTS[1], "three", n=3))
    assert [greedy.tokens[i] for i in range(3)] == [single.tokens[0]] * 3
    sampled = alone(engine, generate(target, PROMPTS[2], "s", n=3, temperature=1.2, seed=5))
    assert len({tuple(t) for t in sampled.tokens.values()}) > 1
    done = sampled.events[-1]
    assert isinstance(done, protocol.Done)
    assert done.completion_tokens == sum(len(t) for t in sampled.tokens.values())
    assert {e.index for e in sampled.events if isinstance(e, protocol.Finished)} == {0, 1, 2}


# -- how a choice ends --------------------------------------------------------------------------


def test_stop_strings_and_max_tokens_end_a_choice(
    tiny_dir: Path, engine: engine_module.Engine
) -> None:
    target = Target(base=str(tiny_dir))
    full = alone(engine, generate(target, PROMPTS[2], max_tokens=64))
    text = full.text[0]
    assert len(text) > 12
    stop = text[6:9]
    cut = alone(engine, generate(target, PROMPTS[2], max_tokens=64, stop=(stop, "\x00never")))
    assert cut.text[0] == text[: text.index(stop)]
    assert cut.reason() == "stop"
    short = alone(engine, generate(target, PROMPTS[2], max_tokens=5))
    assert short.reason() == "length" and len(short.tokens[0]) == 5
    assert text.startswith(short.text[0])


def test_logprobs_come_with_the_tokens(tiny_dir: Path, engine: engine_module.Engine) -> None:
    served = alone(
        engine, generate(Target(base=str(tiny_dir)), PROMPTS[0], logprobs=True, top_logprobs=3)
    )
    tokens = [e for e in served.events if isinstance(e, protocol.Token)]
    assert tokens and all(e.logprob is not None and e.logprob <= 0 for e in tokens)
    assert all(e.top_logprobs is not None and len(e.top_logprobs) == 3 for e in tokens)
    first = tokens[0]
    assert first.top_logprobs is not None and first.top_logprobs[0][0] == first.text
    assert first.logprob == pytest.approx(first.top_logprobs[0][1])


# -- refusals -----------------------------------------------------------------------------------


def test_requests_that_cannot_run_get_an_error_event(
    tiny_dir: Path, tmp_path: Path, engine: engine_module.Engine
) -> None:
    def error(request: Generate) -> protocol.Error:
        (event,) = engine.submit(request)
        assert isinstance(event, protocol.Error)
        return event

    base = Target(base=str(tiny_dir))
    too_long = error(generate(base, PROMPTS[0], max_tokens=2047))
    assert too_long.code == "context_length_exceeded" and "2048" in too_long.message
    assert (
        error(generate(Target(base=str(tmp_path / "gone")), PROMPTS[0])).code == "model_not_found"
    )
    gone_adapter = Target(base=str(tiny_dir), adapter=str(tmp_path / "gone"))
    assert error(generate(gone_adapter, PROMPTS[0])).code == "model_not_found"
    assert error(generate(base, PROMPTS[0], temperature=-1.0)).code == "invalid_request"
    assert error(generate(base, PROMPTS[0], n=1000)).code == "invalid_request"
    classifier = Target(base=str(tiny_dir), kind="classifier")
    assert error(generate(classifier, PROMPTS[0])).code == "invalid_request"
    assert not engine.busy


def test_a_cancelled_request_frees_its_slot(
    made: dict[str, Path], engine: engine_module.Engine
) -> None:
    request = generate(
        Target(base=str(made["untrained"])), PROMPTS[2], "cancel-me", max_tokens=200, n=2
    )
    assert isinstance(engine.submit(request)[0], protocol.Accepted)
    for _ in range(3):
        engine.step()
    assert engine.running == 2
    engine.cancel("cancel-me")
    assert [e for e in engine.step() if e.id == "cancel-me"] == []
    assert engine.running == 0 and not engine.busy
    assert isinstance(engine.submit(request)[0], protocol.Accepted)  # the id is free again
    engine.cancel("cancel-me")
    engine.step()
    assert not engine.busy


# -- adapters in memory -------------------------------------------------------------------------


def test_adapters_are_evicted_least_recently_used_and_reloaded(
    made: dict[str, Path], tiny_dir: Path
) -> None:
    small = engine_module.Engine(max_loaded_adapters=2)
    requests = {
        k: generate(Target(base=str(tiny_dir), adapter=str(made[k])), PROMPTS[0], k)
        for k in ("a", "b", "c")
    }
    first = alone(small, requests["a"]).tokens
    alone(small, requests["b"])
    alone(small, requests["c"])
    assert small.store.loaded_adapters == [str(made["b"]), str(made["c"])]
    assert alone(small, requests["a"]).tokens == first
    assert small.store.loaded_adapters == [str(made["c"]), str(made["a"])]
    # three adapters at once with room for two: the third waits for a free slot
    together = run_all(small, list(requests.values()))
    assert all(together[k].tokens == alone(small, requests[k]).tokens for k in requests)
    assert len(small.store.loaded_adapters) == 2


# -- models the ragged forward does not cover -----------------------------------------------------


def test_a_model_of_another_architecture_runs_on_the_fallback(
    tiny_dir: Path, tmp_path: Path, engine: engine_module.Engine
) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_dir)
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = transformers.GPT2LMHeadModel(config)
    folder, plain = tmp_path / "gpt2", tmp_path / "plain"
    net.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    target = Target(base=str(folder))
    outcome = run_all(
        engine,
        [
            generate(target, PROMPTS[0], "g0", max_tokens=30),
            generate(target, PROMPTS[1], "g1", n=2),
        ],
    )
    assert outcome["g0"].tokens[0] == reference(folder, None, PROMPTS[0], 30)
    expected = reference(folder, None, PROMPTS[1], 48)
    assert outcome["g1"].tokens[0] == outcome["g1"].tokens[1] == expected
    # a LoRA adapter on it, beside the base alone
    adapter = tmp_path / "lora"
    wrapped = peft.get_peft_model(
        net,
        peft.LoraConfig(
            task_type=peft.TaskType.CAUSAL_LM, r=4, target_modules=["c_attn"], fan_in_fan_out=True
        ),
    )
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(1))
    wrapped.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    both = run_all(
        engine,
        [
            generate(
                Target(base=str(folder), adapter=str(adapter)), PROMPTS[0], "l0", max_tokens=30
            ),
            generate(target, PROMPTS[0], "b0", max_tokens=30),
        ],
    )
    assert both["b0"].tokens == outcome["g0"].tokens
    assert both["l0"].tokens[0] == reference(folder, adapter, PROMPTS[0], 30)
    assert both["l0"].tokens != both["b0"].tokens
    # a model whose tokenizer has no chat template cannot take messages
    wrapped.unload().save_pretrained(plain)
    tokenizer.chat_template = None
    tokenizer.save_pretrained(plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    (refused,) = engine.submit(generate(Target(base=str(plain)), PROMPTS[0], "no-template"))
    assert isinstance(refused, protocol.Error) and refused.code == "invalid_request"


# -- classification -----------------------------------------------------------------------------


def test_a_classifier_gives_each_input_a_label_and_probabilities(tmp_path: Path) -> None:
    labels = ["negative", "positive", "neutral"]
    base = minilm.model_dir()
    net = transformers.AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    full = tmp_path / "full"
    net.save_pretrained(full)
    tokenizer = transformers.AutoTokenizer.from_pretrained(base)
    tokenizer.save_pretrained(full)
    texts = ("I loved it", "terrible service", "it was a film")
    with torch.no_grad():
        encoded = tokenizer(list(texts), padding=True, return_tensors="pt")
        expected = torch.softmax(net.eval()(**encoded).logits, -1)
    wrapped = peft.get_peft_model(
        net,
        peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=4, target_modules=["query", "value"]),
    )
    adapter = tmp_path / "adapter"
    wrapped.save_pretrained(adapter)
    (adapter / "tuneyard.json").write_text(json.dumps({"labels": labels}))
    served = engine_module.Engine()
    full_target = Target(base=str(full), kind="classifier")
    lora_target = Target(base=str(base), adapter=str(adapter), kind="classifier")
    for target in (full_target, lora_target):
        (event,) = served.classify(protocol.Classify(id="c", target=target, inputs=texts))
        assert isinstance(event, protocol.Labels), event
        assert len(event.results) == 3
        for label, probabilities in event.results:
            assert set(probabilities) == set(labels)
            assert label == max(probabilities, key=lambda k: probabilities[k])
        got = torch.tensor([[p[name] for name in labels] for _, p in event.results])
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)  # B starts at zero
    (wrong,) = served.classify(
        protocol.Classify(id="x", target=Target(base=str(full)), inputs=texts)
    )
    assert isinstance(wrong, protocol.Error) and wrong.code == "invalid_request"


# -- the worker process -------------------------------------------------------------------------


def start_worker(log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with open(log, "w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "tuneyard.serving", "--threads", "1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = start_worker(tmp_path / "worker.log")
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        print((tmp_path / "worker.log").read_text())


def send(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def receive(process: subprocess.Popen[str]) -> protocol.Event:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the worker closed its stdout"
    return protocol.decode_event(line)


@pytest.mark.timeout(120)
def test_the_worker_speaks_the_protocol(
    worker: subprocess.Popen[str],
    tiny_dir: Path,
    made: dict[str, Path],
    engine: engine_module.Engine,
) -> None:
    send(worker, "this is not json")
    bad = receive(worker)
    assert isinstance(bad, protocol.Error) and (bad.id, bad.code) == ("", "invalid_request")
    send(worker, json.dumps({"op": "generate", "id": "x1", "messages": []}))
    named = receive(worker)
    assert isinstance(named, protocol.Error) and named.id == "x1"

    base = Target(base=str(tiny_dir))
    long = generate(Target(base=str(made["untrained"])), PROMPTS[2], "long", max_tokens=1500)
    short = generate(base, PROMPTS[0], "short", max_tokens=32)
    expected = alone(engine, short)
    send(worker, protocol.encode(long))
    accepted = receive(worker)
    assert isinstance(accepted, protocol.Accepted) and accepted.id == "long"
    first = receive(worker)
    assert isinstance(first, protocol.Token) and first.id == "long"
    send(worker, protocol.encode(protocol.Cancel(id="long")))
    send(worker, protocol.encode(short))
    events: list[protocol.Event] = []
    while not (events and isinstance(events[-1], protocol.Done) and events[-1].id == "short"):
        events.append(receive(worker))
    assert [e for e in events if e.id == "short"] == expected.events
    assert not [e for e in events if e.id == "long" and not isinstance(e, protocol.Token)]
    started = time.monotonic()
    send(worker, protocol.encode(protocol.Shutdown()))
    assert worker.wait(10) == 0
    assert time.monotonic() - started < 5


@pytest.mark.timeout(60)
def test_the_worker_exits_at_the_end_of_its_input(
    worker: subprocess.Popen[str], tiny_dir: Path
) -> None:
    send(worker, protocol.encode(generate(Target(base=str(tiny_dir)), PROMPTS[0], max_tokens=4)))
    assert isinstance(receive(worker), protocol.Accepted)
    assert worker.stdin is not None
    worker.stdin.close()
    assert worker.wait(20) == 0


PARENT = """
import subprocess, sys, time
worker = subprocess.Popen(
    [sys.executable, "-m", "tuneyard.serving", "--parent-pid", str(__import__("os").getpid())],
    stdin=int(sys.argv[1]), stdout=subprocess.DEVNULL, start_new_session=True,
)
print(worker.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.timeout(60)
def test_the_worker_exits_when_its_server_is_gone() -> None:
    """A server killed outright leaves its worker's stdin open (another process holds it
    here); the worker exits anyway, as soon as it is no longer the server's child."""
    import psutil

    read_end, write_end = os.pipe()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(read_end)],
        pass_fds=[read_end],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    os.close(read_end)
    try:
        assert server.stdout is not None
        worker_pid = int(server.stdout.readline())
        time.sleep(1.0)
        assert psutil.pid_exists(worker_pid)
        server.kill()
        server.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not psutil.pid_exists(worker_pid) or (
                psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE
            ):
                break
            time.sleep(0.1)
        else:
            psutil.Process(worker_pid).kill()
            raise AssertionError("the worker outlived its server")
    finally:
        os.close(write_end)
        if server.poll() is None:
            server.kill()
        if server.stdout is not None:
            server.stdout.close()


def test_a_built_in_base_is_written_out_on_first_use(
    tmp_path: Path, engine: engine_module.Engine
) -> None:
    folder = tmp_path / "models" / "tiny-chat"  # a fresh data dir: nothing trained yet
    target = Target(base=str(folder), builtin="tiny-chat")
    outcome = alone(engine, generate(target, [{"role": "user", "content": "Repeat: stone"}]))
    assert outcome.text[0] == "stone"
    assert (folder / "model.safetensors").is_file()
    missing = alone(engine, generate(Target(base=str(tmp_path / "absent")), []))
    assert [e.code for e in missing.events if isinstance(e, protocol.Error)] == ["model_not_found"]
