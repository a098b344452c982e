"""Training under CPU bf16 autocast: few GEMM shapes, fp32 attention, the same results.

These run on any CPU: autocast to bf16 works everywhere (emulated where the CPU has no
native bf16); what is checked is what the trainer builds and computes, not its speed.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tuneyard import kinds
from tuneyard.core import jobs
from tuneyard.scheduler.executors import local
from tuneyard.trainer import data, evaluate, model, packing


def tiny(tiny_dir: Path) -> torch.nn.Module:
    net = model.build(
        tiny_dir,
        task_type=kinds.TaskType.GENERATION,
        method=kinds.Method.FULL,
        hyperparameters=jobs.Hyperparameters(),
        labels=None,
        pad_id=0,
    )
    packing.enable(net)
    return net.eval()


def examples(*lengths: int) -> list[tuple[list[int], list[int]]]:
    g = torch.Generator().manual_seed(0)
    rows = [torch.randint(3, 200, (n,), generator=g).tolist() for n in lengths]
    return [(ids, [-100, *ids[1:]]) for ids in rows]


def test_a_packed_row_is_padded_to_the_shape_multiple_only_under_cpu_autocast() -> None:
    plain = packing.pack(examples(40, 7, 90))
    assert plain.padding == 0 and plain.tokens == 137 and plain.input_ids.shape[1] == 137
    with torch.autocast("cpu", dtype=torch.bfloat16):
        padded = packing.pack(examples(40, 7, 90))
    assert data.shape_multiple() == 1  # outside autocast again
    assert padded.input_ids.shape[1] == 192 and padded.padding == 55
    assert padded.tokens == 137  # tokens/s counts real tokens only
    assert padded.lengths == [40, 7, 90, 55]  # the padding is its own block
    for field in ("keep", "targets", "owners"):  # nothing is learnt from it
        assert torch.equal(getattr(padded, field), getattr(plain, field))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exact = packing.pack(examples(64, 64))
    assert exact.padding == 0 and exact.input_ids.shape[1] == 128


def test_padding_changes_no_logit_of_a_real_token(tiny_dir: Path) -> None:
    net = tiny(tiny_dir)
    plain = packing.pack(examples(40, 7, 90))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        padded = packing.pack(examples(40, 7, 90))
    with torch.no_grad():
        want = net(**plain.model_inputs()).logits
        got = net(**padded.model_inputs()).logits
    torch.testing.assert_close(got, want)


def test_the_packed_attention_runs_in_fp32_under_cpu_autocast(tiny_dir: Path) -> None:
    """bf16 SDPA's backward on a CPU keeps memory for every length it sees; the packed
    attention leaves autocast for fp32, and gives fp32's result."""
    net = tiny(tiny_dir)
    seen: list[torch.dtype] = []
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(q: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        seen.append(q.dtype)
        out = original(q, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(out.dtype)
        return out

    batch = packing.pack(examples(40, 7, 90))
    torch.nn.functional.scaled_dot_product_attention = spy  # type: ignore[assignment]
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            net(**batch.model_inputs())
    finally:
        torch.nn.functional.scaled_dot_product_attention = original
    assert seen and set(seen) == {torch.float32}


def test_workers_cap_onednn_primitive_cache() -> None:
    assert local.ALLOCATOR_ENV["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "16"
    executor = local.LocalExecutor(env={})
    assert executor.env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "16"
    already = local.LocalExecutor(env={"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"})
    assert already.env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "1024"  # one already set wins


def test_generated_replies_leave_the_prompt_half_of_max_seq_len() -> None:
    assert evaluate.replies_room(1024, 100, 50) == 66  # the longest reply and 16 more
    assert evaluate.replies_room(1024, 100, 900) == 256  # at most 256
    assert evaluate.replies_room(256, 20, 262) == 236  # what the prompt leaves
    assert evaluate.replies_room(256, 300, 262) == 128  # never under half for the prompt
    assert evaluate.replies_room(2, 5, 0) == 1
