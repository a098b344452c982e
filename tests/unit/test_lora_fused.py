"""LoRA layers run as one folded matmul: PEFT's outputs and gradients, nothing else changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peft
import pytest
import torch

from tuneyard import kinds
from tuneyard.core import jobs
from tuneyard.trainer import lora, model, packing

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")


def lora_net(tiny_dir: Path, **hyperparameters: Any) -> Any:
    net = model.build(
        tiny_dir,
        task_type=kinds.TaskType.GENERATION,
        method=kinds.Method.LORA,
        hyperparameters=jobs.Hyperparameters(**hyperparameters),
        labels=None,
        pad_id=0,
    )
    torch.manual_seed(3)
    for name, parameter in net.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero, which would hide errors in A's path
            torch.nn.init.normal_(parameter, std=0.05)
    return net


def loss_and_grads(net: Any, batch: packing.PackedBatch) -> tuple[torch.Tensor, dict[str, Any]]:
    net.zero_grad(set_to_none=True)
    logits = net(**batch.model_inputs()).logits.reshape(-1, net.config.vocab_size)
    loss = torch.nn.functional.cross_entropy(logits, batch.targets)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.requires_grad}
    return logits.detach(), grads


def test_folded_layers_give_peft_logits_and_gradients(tiny_dir: Path) -> None:
    net = lora_net(tiny_dir)
    packing.enable(model.base_of(net))
    g = torch.Generator().manual_seed(0)
    examples = [torch.randint(3, 200, (n,), generator=g).tolist() for n in (40, 7, 90)]
    batch = packing.pack([(ids, [-100, *ids[1:]]) for ids in examples])
    want_logits, want_grads = loss_and_grads(net, batch)

    assert lora.fuse(net) == 28  # q k v o gate up down in each of the 4 layers
    got_logits, got_grads = loss_and_grads(net, batch)

    torch.testing.assert_close(got_logits, want_logits, atol=1e-5, rtol=1e-4)
    assert got_grads.keys() == want_grads.keys() and len(got_grads) == 56
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)
    assert any(g.abs().sum() > 0 for n, g in got_grads.items() if "lora_A" in n)


class Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Linear(16, 48)
        self.second = torch.nn.Linear(48, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))


def toy_lora(**config: Any) -> Any:
    torch.manual_seed(0)
    net = peft.get_peft_model(
        Toy(), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["first", "second"], **config)
    )
    for name, parameter in net.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.1)
    return net


def test_biases_and_the_input_gradient_match_peft() -> None:
    net = toy_lora()
    x = torch.randn(2, 40, 16)

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        net.zero_grad(set_to_none=True)
        leaf = x.clone().requires_grad_(True)
        out = net(leaf)
        out.square().sum().backward()
        return out.detach(), [leaf.grad, *(p.grad for p in net.parameters() if p.requires_grad)]

    want_out, want_grads = run()
    assert lora.fuse(net) == 2
    got_out, got_grads = run()
    torch.testing.assert_close(got_out, want_out, atol=1e-5, rtol=1e-5)
    for got, want in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_under_cpu_bf16_autocast_the_fold_runs_in_bf16_and_keeps_fp32_gradients() -> None:
    net = toy_lora()
    x = torch.randn(2, 40, 16)
    saved: list[torch.dtype] = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.dtype)
        return t

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        net.zero_grad(set_to_none=True)
        leaf = x.clone().requires_grad_(True)
        saved.clear()
        with (
            torch.autocast("cpu", dtype=torch.bfloat16),
            torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t),
        ):
            out = net(leaf)
        out.float().square().sum().backward()
        return out.detach(), [leaf.grad, *(p.grad for p in net.parameters() if p.requires_grad)]

    want_out, want_grads = run()  # PEFT's layers under autocast
    assert lora.fuse(net) == 2
    got_out, got_grads = run()
    assert saved and set(saved) == {torch.bfloat16}  # the backward's GEMMs run in bf16 too
    assert got_out.dtype == want_out.dtype == torch.bfloat16
    torch.testing.assert_close(got_out.float(), want_out.float(), atol=0.05, rtol=0.05)
    for got, want in zip(got_grads, want_grads, strict=True):
        assert got.dtype == want.dtype == torch.float32
        assert (got - want).norm() <= 0.05 * want.norm()


def test_a_decode_step_goes_through_peft() -> None:
    net = toy_lora()
    lora.fuse(net)
    layer = net.base_model.model.first
    many = layer(torch.randn(64, 16, requires_grad=True))
    one = layer(torch.randn(1, 16, requires_grad=True))
    assert type(many.grad_fn).__name__ == "_FoldedLoraBackward"
    assert type(one.grad_fn).__name__ == "AddBackward0"  # PEFT's base + scaled adapter


@pytest.mark.parametrize(
    "config", [{"lora_dropout": 0.1}, {"use_dora": True}], ids=["dropout", "dora"]
)
def test_layers_the_fold_cannot_express_are_left_to_peft(config: dict[str, Any]) -> None:
    net = toy_lora(**config)
    assert lora.fuse(net) == 0
    assert all("forward" not in vars(m) for m in net.modules())


def test_the_saved_adapter_is_unchanged(tiny_dir: Path, tmp_path: Path) -> None:
    net = lora_net(tiny_dir)
    before = peft.get_peft_model_state_dict(net)
    lora.fuse(net)
    net.save_pretrained(tmp_path)
    reloaded = model.load_adapter(
        model.load(tiny_dir, task_type=kinds.TaskType.GENERATION, labels=None, pad_id=0),
        tmp_path,
        trainable=False,
    )
    after = peft.get_peft_model_state_dict(reloaded)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
