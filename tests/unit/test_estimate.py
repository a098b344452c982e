"""The estimate's arithmetic: parameters, the plan of batches, every memory and time term."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from tests.support.estimates import MACHINE
from tuneyard.basemodels import shapes
from tuneyard.core import estimate
from tuneyard.core.jobs import Hyperparameters
from tuneyard.kinds import Method, Objective, TaskType

TINY = estimate.shape_of(shapes.TINY_CHAT)
HP = Hyperparameters(n_epochs=1, batch_size=8, max_seq_len=512, eval_samples=0)


def work(**changes: object) -> estimate.Work:
    fields: dict[str, object] = dict(
        shape=TINY,
        method=Method.LORA,
        objective=Objective.SFT,
        task_type=TaskType.GENERATION,
        hp=HP,
        train=[100] * 64,
        valid=[100] * 8,
    )
    fields.update(changes)
    return estimate.Work(**fields)  # type: ignore[arg-type]


def run(w: estimate.Work, machine: estimate.Machine = MACHINE) -> estimate.Estimate:
    return estimate.estimate(w, machine, memory_available=8 << 30)


def test_tiny_chat_parameters_match_the_built_model() -> None:
    import peft

    from tuneyard.basemodels import tinychat

    net = tinychat.untrained()
    full = estimate.parameters(TINY, Method.FULL, HP, TaskType.GENERATION)
    assert full.total == sum(p.numel() for p in net.parameters())
    assert full.trainable == full.total and full.frozen == 0
    config = peft.LoraConfig(r=8, lora_alpha=16, target_modules="all-linear")
    adapted = peft.get_peft_model(net, config)
    lora = estimate.parameters(TINY, Method.LORA, HP, TaskType.GENERATION)
    assert lora.trainable == sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    assert lora.total == sum(p.numel() for p in adapted.parameters())
    assert lora.frozen == full.total


def test_the_shape_tiny_chat_falls_back_to_is_the_one_it_is_built_with() -> None:
    from tuneyard.basemodels import tinychat

    config = tinychat.untrained().config.to_dict()
    assert {k: config[k] for k in shapes.TINY_CHAT} == shapes.TINY_CHAT


def test_minilm_classifier_parameters_match_the_built_model() -> None:
    import transformers

    from tuneyard.basemodels import minilm

    folder = minilm.model_dir()
    shape = estimate.shape_of(transformers.AutoConfig.from_pretrained(folder).to_dict())
    net = transformers.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    found = estimate.parameters(shape, Method.FULL, HP, TaskType.CLASSIFICATION, labels=3)
    assert found.total == sum(p.numel() for p in net.parameters())


def test_features_follow_the_trainer() -> None:
    gen, cls = TaskType.GENERATION, TaskType.CLASSIFICATION
    assert estimate.features([10, 900], Objective.SFT, gen, 512) == [10, 512]
    assert estimate.features([10, 900], Objective.SFT, cls, 64) == [10, 64]
    # documents: the end token is added, then cut into windows; a 1-token tail is dropped
    assert estimate.features([1000, 1023], Objective.CPT, gen, 512) == [512, 489, 512, 512]
    # a pair is two sequences, each truncated
    assert estimate.features([100, 2000], Objective.DPO, gen, 512) == [100, 1024]


def test_the_plan_has_the_trainers_steps() -> None:
    hp = dataclasses.replace(HP, n_epochs=3, batch_size=8, gradient_accumulation_steps=2)
    steps = estimate.plan(list(range(1, 101)), hp, packed=True)
    assert len(steps) == 3 * math.ceil(math.ceil(100 / 8) / 2)
    assert sorted(n for step in steps[:7] for batch in step for n in batch) == list(range(1, 101))


def test_padded_batches_are_grouped_by_length() -> None:
    lengths = [10] * 50 + [200] * 50
    padded = estimate.plan(lengths, HP, packed=False)
    assert sum(len(set(batch)) > 1 for step in padded for batch in step) == 1  # the seam
    mixed = estimate.plan(lengths, HP, packed=True)
    widest = max(max(b) * len(b) for s in padded for b in s)
    assert widest == 200 * 8
    assert run(work(train=lengths, packed=False)).breakdown["widest_batch_tokens"] == widest
    assert run(work(train=lengths)).breakdown["widest_batch_tokens"] == max(
        sum(b) for s in mixed for b in s
    )


def test_peak_memory_is_the_sum_of_its_terms() -> None:
    w = work(method=Method.FULL)
    found = run(w)
    params = estimate.parameters(TINY, Method.FULL, HP, TaskType.GENERATION)
    widest = int(found.breakdown["widest_batch_tokens"])
    per_token = (estimate.ACTIVATION_H * 256 + estimate.ACTIVATION_I * 704) * 4 * 4
    logits = widest * 1.0 * 261 * 4 * 4
    expected = (
        MACHINE.base_bytes
        + estimate.SETUP_BYTES
        + params.total * 4  # weights
        + params.trainable * 8  # AdamW's moments
        + max(widest * per_token + logits, params.trainable * 12, params.total * 4)
    )
    assert found.peak_memory_bytes == int(expected)


def test_memory_grows_with_the_batch_and_the_trained_parameters() -> None:
    lora, full = run(work()), run(work(method=Method.FULL))
    moments = 2 * 4 * (full.trainable_parameters - lora.trainable_parameters)
    assert full.peak_memory_bytes - lora.peak_memory_bytes >= 0.8 * moments
    bigger = run(work(hp=dataclasses.replace(HP, batch_size=32)))
    assert bigger.peak_memory_bytes > lora.peak_memory_bytes


def test_full_fine_tuning_pays_the_weight_gradients() -> None:
    """6 FLOPs per weight and token against LoRA's 4 (no frozen-weight gradient)."""
    gemm_only = dataclasses.replace(
        MACHINE, attention_s=0.0, attention_call_s=0.0, elementwise_s=0.0, op_s=0.0
    )
    lora, full = run(work(), gemm_only), run(work(method=Method.FULL), gemm_only)
    assert full.train_seconds > lora.train_seconds * 1.3


def test_attention_grows_with_length_squared() -> None:
    """The same tokens in longer examples cost more (attention), and only by its term."""
    short, long = run(work(train=[64] * 64)), run(work(train=[512] * 8))
    assert short.tokens == long.tokens
    no_attention = dataclasses.replace(MACHINE, attention_s=0.0)
    a, b = run(work(train=[64] * 64), no_attention), run(work(train=[512] * 8), no_attention)
    quadratic = 4 * 256 * (8 * 512**2 - 64 * 64**2) * MACHINE.attention_s
    assert (long.train_seconds - b.train_seconds) - (short.train_seconds - a.train_seconds) == (
        pytest.approx(quadratic)
    )


def test_each_time_term_counts() -> None:
    base = run(work())
    for field in ("elementwise_s", "op_s", "optimizer_s", "attention_call_s"):
        zero: dict[str, Any] = {field: 0.0}
        cheaper = run(work(), dataclasses.replace(MACHINE, **zero))
        assert cheaper.train_seconds < base.train_seconds, field
    slower = dataclasses.replace(MACHINE, gemm=tuple((n, 2 * s) for n, s in MACHINE.gemm))
    assert run(work(), slower).train_seconds > base.train_seconds


def test_the_whole_job_adds_start_validation_saves_and_evaluation() -> None:
    base = run(work())
    assert base.job_seconds > base.train_seconds + MACHINE.startup_s
    saving = run(work(hp=dataclasses.replace(HP, save_steps=1)))
    assert saving.train_seconds == pytest.approx(base.train_seconds)
    assert saving.job_seconds > base.job_seconds  # 8 validated checkpoints, not 1
    generating = run(work(hp=dataclasses.replace(HP, eval_samples=8)))
    assert generating.job_seconds > base.job_seconds
    dpo = run(work(objective=Objective.DPO))
    assert dpo.breakdown["seconds_reference"] > 0 and dpo.job_seconds > base.job_seconds


def test_tokens_and_fit() -> None:
    found = run(work(hp=dataclasses.replace(HP, n_epochs=3)))
    assert found.tokens == 3 * 64 * 100 and found.steps == 3 * 8
    assert found.fits
    tight = estimate.estimate(work(), MACHINE, memory_available=100 << 20)
    assert not tight.fits and "MiB" in tight.describe()
    assert set(found.to_dict()) >= {"peak_memory_bytes", "train_seconds", "job_seconds", "fits"}


def test_gemm_rate_is_interpolated_by_width() -> None:
    assert MACHINE.gemm_s(64, 64) == 1e-10
    assert MACHINE.gemm_s(4096, 4096) == 2e-11
    assert 2e-11 < MACHINE.gemm_s(256, 256) < 1e-10
    assert estimate.Machine.from_dict(MACHINE.to_dict()) == MACHINE


BF16 = dataclasses.replace(MACHINE, gemm_bf16=tuple((n, s / 4) for n, s in MACHINE.gemm))
"""The test machine with native bf16 GEMMs four times as fast as its fp32 ones."""


def test_the_dtype_is_predicted_as_the_trainer_chooses_it() -> None:
    assert BF16.precision(TINY) == "bf16"
    assert BF16.precision(TINY, "fp32") == "fp32"  # the workers' setting forces fp32
    assert MACHINE.precision(TINY) == "fp32"  # no native bf16 measured
    barely = dataclasses.replace(MACHINE, gemm_bf16=tuple((n, s / 1.1) for n, s in MACHINE.gemm))
    assert barely.precision(TINY) == "fp32"  # under BF16_MIN_GAIN
    assert dataclasses.replace(BF16, device="cuda").precision(TINY) == "fp32"


def test_bf16_prices_the_gemms_at_bf16_rates_and_keeps_fewer_activation_bytes() -> None:
    fp32, bf16 = run(work(), BF16), run(work(precision="bf16"), BF16)
    assert bf16.train_seconds < fp32.train_seconds
    aligned = [128] * 64  # micro-batches of 1,024 tokens: no bf16 row padding
    no_gemm = dataclasses.replace(BF16, gemm=((128, 0.0),), gemm_bf16=((128, 0.0),))
    assert run(work(train=aligned), no_gemm).train_seconds == pytest.approx(
        run(work(train=aligned, precision="bf16"), no_gemm).train_seconds
    )  # only the GEMMs change
    # under bf16 a packed micro-batch of 800 tokens runs as 832 (a multiple of 64)
    assert run(work(precision="bf16"), no_gemm).train_seconds > run(work(), no_gemm).train_seconds
    activations = bf16.breakdown["memory_activations_bytes"]
    assert activations < fp32.breakdown["memory_activations_bytes"]
    # ... and the worker holds bf16 kernels and their cached primitives besides
    runtime = bf16.breakdown["memory_base_bytes"] - fp32.breakdown["memory_base_bytes"]
    assert runtime == estimate.BF16_RUNTIME_BYTES
    saved = fp32.breakdown["memory_activations_bytes"] - activations
    assert bf16.peak_memory_bytes == pytest.approx(fp32.peak_memory_bytes - saved + runtime, abs=1)
    # the DPO reference pass and the final generation run in fp32 either way
    dpo = dict(objective=Objective.DPO, hp=dataclasses.replace(HP, eval_samples=8))
    a, b = run(work(**dpo), BF16), run(work(precision="bf16", **dpo), BF16)
    assert a.breakdown["seconds_reference"] == pytest.approx(b.breakdown["seconds_reference"])
    assert a.breakdown["seconds_evaluation"] == pytest.approx(b.breakdown["seconds_evaluation"])


def test_a_calibration_with_or_without_bf16_reads_back() -> None:
    assert estimate.Machine.from_dict(BF16.to_dict()) == BF16
    old = {k: v for k, v in MACHINE.to_dict().items() if k != "gemm_bf16"}
    assert estimate.Machine.from_dict(old) == MACHINE  # a cache written before bf16 was


def test_generation_is_priced_at_the_evaluations_own_bound() -> None:
    """A reply longer than half of max_seq_len is generated to that half at most (the
    prompt keeps the other half), as `trainer.evaluate.replies_room` bounds it."""
    valid = [256] * 8  # half learnt: replies of 128 tokens, 128 + 16 generated given room
    hp = dataclasses.replace(HP, eval_samples=8)
    tight = run(work(hp=dataclasses.replace(hp, max_seq_len=256), valid=valid, targets=0.5))
    roomy = run(work(hp=dataclasses.replace(hp, max_seq_len=4096), valid=valid, targets=0.5))
    decode = roomy.breakdown["seconds_evaluation"] - tight.breakdown["seconds_evaluation"]
    per_token = decode / 16  # the 16 tokens the tight one may not generate
    assert decode > 0
    assert tight.breakdown["seconds_evaluation"] > 128 * per_token


def _probe_work(layers: int, lengths: list[int], **changes: object) -> estimate.Work:
    """One optimizer step of one micro-batch of `lengths`, as `trainer.probe` times it."""
    shape = dataclasses.replace(TINY, layers=layers)
    hp = dataclasses.replace(HP, batch_size=len(lengths))
    return work(shape=shape, train=lengths, valid=[], hp=hp, **changes)


KNOWN = estimate.Overhead(step_s=4e-3, layer_s=1.5e-3, passes=((512, 2e-11), (2048, 4e-11)))


def _timed(w: estimate.Work, overhead: estimate.Overhead) -> float:
    """The seconds a step of `w` takes on `MACHINE` if its overhead is `overhead`."""
    key = estimate.overhead_key(encoder=False, method=w.method, bf16=w.precision == "bf16")
    machine = dataclasses.replace(MACHINE, overheads={key: overhead})
    hp = dataclasses.replace(w.hp, batch_size=len(w.train), n_epochs=1)
    return run(dataclasses.replace(w, hp=hp), machine).train_seconds


def _probes(method: Method = Method.LORA) -> list[estimate.Work]:
    """The calibration's probe steps (`trainer.calibrate._PROBES`, the decoder's)."""
    sizes = ((1, [32]), (3, [32]), (3, [256] * 2), (3, [256] * 8))
    return [_probe_work(layers, lengths, method=method) for layers, lengths in sizes]


@pytest.mark.parametrize("method", [Method.LORA, Method.FULL])
def test_the_overhead_fit_recovers_what_the_steps_took_beyond_their_flops(method: Method) -> None:
    probes = _probes(method)
    fitted = estimate.fit_overhead([(w, _timed(w, KNOWN)) for w in probes], MACHINE)
    assert fitted.step_s == pytest.approx(KNOWN.step_s, rel=0.02)
    assert fitted.layer_s == pytest.approx(KNOWN.layer_s, rel=0.02)
    assert [n for n, _ in fitted.passes] == [512, 2048]
    for (_, got), (_, wanted) in zip(fitted.passes, KNOWN.passes, strict=True):
        assert got == pytest.approx(wanted, rel=0.02)


def test_the_pass_rate_follows_the_micro_batch_size_between_those_measured() -> None:
    assert KNOWN.pass_s(100) == KNOWN.pass_s(512) == 2e-11  # the nearest size beyond them
    assert KNOWN.pass_s(8192) == 4e-11
    assert KNOWN.pass_s(1024) == pytest.approx(3e-11)  # halfway in log tokens
    assert estimate.Overhead(0.0, 0.0, ()).pass_s(1024) == 0.0


def test_an_overhead_the_noise_makes_negative_is_taken_as_none() -> None:
    probes = _probes()
    none = estimate.Overhead(0.0, 0.0, ((512, 0.0), (2048, 0.0)))
    # steps faster than their FLOPs price: nothing left to explain, nothing below zero
    quick = [(w, 0.5 * _timed(w, none)) for w in probes]
    assert estimate.fit_overhead(quick, MACHINE) == none
    # a per-step cost only (the layers cost nothing beyond their FLOPs): found alone
    only_step = estimate.Overhead(5e-3, 0.0, ((512, 0.0), (2048, 0.0)))
    steps = [(w, _timed(w, only_step) - (1e-5 if w.shape.layers == 3 else 0.0)) for w in probes]
    fitted = estimate.fit_overhead(steps, MACHINE)
    assert fitted.layer_s == 0.0 and all(rate >= 0.0 for _, rate in fitted.passes)
    assert fitted.step_s == pytest.approx(5e-3, rel=0.01)


def test_a_measured_overhead_replaces_the_constants_for_its_family_method_and_dtype() -> None:
    key = estimate.overhead_key(encoder=False, method=Method.LORA, bf16=False)
    measured = dataclasses.replace(MACHINE, overheads={key: KNOWN})
    base, found = run(work()), run(work(), measured)
    assert found.train_seconds != pytest.approx(base.train_seconds)
    # its step and layer terms count once per step, and per layer and micro-batch
    for term, times in (("step_s", found.steps), ("layer_s", found.steps * TINY.layers)):
        more = dataclasses.replace(KNOWN, **{term: getattr(KNOWN, term) + 1e-3})
        bigger = run(work(), dataclasses.replace(MACHINE, overheads={key: more}))
        assert bigger.train_seconds - found.train_seconds == pytest.approx(times * 1e-3, rel=1e-6)
    # ... and the pass rate per token and layer
    dearer = dataclasses.replace(KNOWN, passes=((512, 3e-11), (2048, 5e-11)))
    extra = run(work(), dataclasses.replace(MACHINE, overheads={key: dearer})).train_seconds
    per_token = TINY.layers * (60 * TINY.hidden + 24 * TINY.intermediate) * 4 * 1e-11
    assert extra - found.train_seconds == pytest.approx(found.tokens * per_token, rel=1e-6)
    # another method, dtype or family keeps the constants
    assert run(work(method=Method.FULL), measured).train_seconds == pytest.approx(
        run(work(method=Method.FULL)).train_seconds
    )
    assert run(work(precision="bf16"), measured).train_seconds == pytest.approx(
        run(work(precision="bf16")).train_seconds
    )


def test_a_calibration_with_overheads_reads_back() -> None:
    key = estimate.overhead_key(encoder=True, method=Method.FULL, bf16=True)
    assert key == "encoder/full/bf16"
    measured = dataclasses.replace(BF16, overheads={key: KNOWN})
    assert estimate.Machine.from_dict(measured.to_dict()) == measured
    again = estimate.Machine.from_dict(measured.to_dict())
    assert again.overhead(encoder=True, method=Method.FULL, bf16=True) == KNOWN
    assert MACHINE.overhead(encoder=True, method=Method.FULL, bf16=True) is None
