"""PaLM's model FLOPs, counted by hand on a toy shape and checked against PaLM's formula."""

from __future__ import annotations

import types

import pytest

from tuneyard.trainer import flops

# hidden 4, MLP 8, 2 layers, 2 heads of 2 (one KV head), a 10-token vocabulary
TOY = flops.Architecture(
    hidden=4, intermediate=8, layers=2, heads=2, kv_heads=1, head_dim=2, vocab=10
)
# (tokens, learnt positions): 8 tokens, 3 targets, attention squares 3² + 5² = 34
EXAMPLES = [flops.Example(3, 2), flops.Example(5, 1)]


def test_a_layer_has_llamas_seven_matrices() -> None:
    # q 4→4, k 4→2, v 4→2, o 4→4, gate 4→8, up 4→8, down 8→4
    assert [(n, i, o) for n, i, o in TOY.linears()] == [
        ("q_proj", 4, 4),
        ("k_proj", 4, 2),
        ("v_proj", 4, 2),
        ("o_proj", 4, 4),
        ("gate_proj", 4, 8),
        ("up_proj", 4, 8),
        ("down_proj", 8, 4),
    ]
    assert TOY.layer_weights() == 16 + 8 + 8 + 16 + 32 + 32 + 32  # 144


def test_full_fine_tuning_by_hand() -> None:
    count = flops.training(TOY, EXAMPLES, method="full")
    assert count.weights == 6 * 2 * 144 * 8  # 6 per multiply-add, 2 layers, 8 tokens
    assert count.adapters == 0
    assert count.attention == 12 * 2 * 2 * 2 * 34  # 12·L·H·Q per token pair of each example
    assert count.head == 6 * 4 * 10 * 3  # the head on the 3 learnt positions only
    assert count.total == 13824 + 3264 + 720
    assert count.tokens == 8


def test_lora_pays_no_weight_gradient_for_frozen_weights_by_hand() -> None:
    count = flops.training(TOY, EXAMPLES, method="lora", lora_rank=1)
    # forward + input gradient (4 per multiply-add), less layer 1's input-side projections'
    # input gradient (q, k, v, gate, up read the frozen embeddings: 16+8+8+32+32 = 96)
    assert count.weights == (4 * 2 * 144 - 2 * 96) * 8
    # r·(in + out) per matrix: 8 + 6 + 6 + 8 + 12 + 12 + 12 = 64; 6 per multiply-add
    assert count.adapters == 6 * 64 * 2 * 8
    assert count.attention == 12 * 2 * 2 * 2 * 34  # activations still need their gradients
    assert count.head == 4 * 4 * 10 * 3
    assert count.total == 7680 + 6144 + 3264 + 480


def test_lora_on_some_modules_counts_only_their_adapters() -> None:
    only_q = flops.training(TOY, EXAMPLES, method="lora", lora_rank=2, lora_modules={"q_proj"})
    assert only_q.adapters == 6 * 2 * (4 + 4) * 2 * 8


def test_forward_only_is_a_third_of_full_training() -> None:
    full = flops.training(TOY, EXAMPLES, method="full")
    once = flops.forward(TOY, EXAMPLES)
    assert once.total * 3 == full.total
    with_lora = flops.forward(TOY, EXAMPLES, lora_rank=1)
    assert with_lora.adapters == 2 * 64 * 2 * 8


def test_full_training_matches_palms_formula_on_a_real_shape() -> None:
    config = types.SimpleNamespace(
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=8,
        vocab_size=261,
    )
    arch = flops.Architecture.of(config)
    assert arch.head_dim == 64 and arch.kv_heads == 8
    length = 300
    count = flops.training(arch, [flops.Example(length, length)], method="full")
    # 6·N per token (N: the weight matrices and the tied head) + 12·L·H·Q·T
    n = 8 * arch.layer_weights() + 512 * 261
    assert count.total / length == pytest.approx(6 * n + 12 * 8 * 8 * 64 * length)


def test_packing_does_not_change_the_count_but_example_lengths_do() -> None:
    apart = flops.training(TOY, [flops.Example(4, 4), flops.Example(4, 4)], method="full")
    together = flops.training(TOY, [flops.Example(8, 8)], method="full")
    assert apart.weights == together.weights and apart.head == together.head
    assert together.attention == 2 * apart.attention  # 8² against 2 · 4²


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        flops.training(TOY, EXAMPLES, method="qlora")
