"""LoRA layers trained as one matmul each: the adapter folded into the weight for the pass.

PEFT runs a LoRA linear as `x·Wᵀ + s·(x·Aᵀ)·Bᵀ`: the base matmul, two rank-r matmuls, a
scale and an add, each a pass over a (tokens × features) tensor, and four more skinny
matmuls in the backward. With `W' = W + s·B·A` (out × in, formed once per pass at a cost
that does not grow with the tokens) the same output is one GEMM, `x·[W'; A]ᵀ`, whose last r
columns are the `x·Aᵀ` the backward needs. The backward is one GEMM `dy·[W' | B]` that
gives dx and `dy·B` together, and two rank-r products for the adapter:
`dA = s·(dy·B)ᵀ·x` and `dB = s·(x·Aᵀ)ᵀ·dy` (written r-rows-first, the fast way round).
The base weight gets no gradient: it is frozen.

The parameters stay PEFT's own, so saving, loading, merging and the adapter layout are
unchanged: `fuse` only swaps the forward of each PEFT `lora.Linear` it can take (one
adapter, no dropout, no DoRA, a frozen `nn.Linear` base). A call with few rows, where
forming W' would cost more than PEFT's skinny matmuls (a decode step), goes to PEFT's
forward. `bench/train_throughput.py` measures the difference.
"""

from __future__ import annotations

import contextlib
import types
from typing import Any

import torch

__all__ = ["fuse", "fusable"]


class _FoldedLora(torch.autograd.Function):
    """y = x·(W + s·B·A)ᵀ + bias, with gradients for x, A and B only."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")  # type: ignore[untyped-decorator]
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        scaling: float,
    ) -> torch.Tensor:
        ctx.input_dtype, ctx.param_dtype = x.dtype, lora_a.dtype
        cast = _cpu_autocast_dtype(x)
        if cast is not None:  # bf16 autocast on a CPU: the forward and backward in bf16
            x, weight, lora_a, lora_b = (t.to(cast) for t in (x, weight, lora_a, lora_b))
            bias = None if bias is None else bias.to(cast)
        # under autocast the GEMMs run in the dtype cast above, not autocast's per-op choice;
        # without it no autocast context is entered (entering one costs each call)
        fp32 = contextlib.nullcontext() if cast is None else torch.autocast("cpu", enabled=False)
        with fp32:
            out_features, rank = weight.shape[0], lora_a.shape[0]
            rows = x.reshape(-1, x.shape[-1])
            stacked = torch.cat([torch.addmm(weight, lora_b, lora_a, alpha=scaling), lora_a])
            if bias is None:
                both = rows @ stacked.t()
            else:
                both = torch.addmm(torch.cat([bias, bias.new_zeros(rank)]), rows, stacked.t())
            projected = both[:, out_features:].clone()  # x·Aᵀ, kept without the whole output
        ctx.save_for_backward(rows, weight, lora_a, lora_b, projected)
        ctx.scaling = scaling
        ctx.input_shape = x.shape
        return both[:, :out_features].view(*x.shape[:-1], out_features)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")  # type: ignore[untyped-decorator]
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        rows, weight, lora_a, lora_b, projected = ctx.saved_tensors
        scaling: float = ctx.scaling
        in_features = weight.shape[1]
        dy = grad.reshape(-1, weight.shape[0]).to(rows.dtype)
        grad_x = None
        if ctx.needs_input_grad[0]:
            folded = torch.addmm(weight, lora_b, lora_a, alpha=scaling).to(dy.dtype)
            both = dy @ torch.cat([folded, lora_b.to(dy.dtype)], dim=1)
            grad_x = both[:, :in_features].view(ctx.input_shape)
            through_b = both[:, in_features:]
        else:
            through_b = dy @ lora_b.to(dy.dtype)
        grad_a = (through_b.t() @ rows).mul_(scaling).to(ctx.param_dtype)
        grad_b = (projected.t() @ dy).t().mul_(scaling).to(ctx.param_dtype)
        if grad_x is not None:
            grad_x = grad_x.to(ctx.input_dtype)
        return grad_x, None, None, grad_a, grad_b, None


def _cpu_autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The autocast dtype when `x` is on a CPU under autocast (the recipe's bf16 choice)."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return None
    return torch.get_autocast_dtype("cpu")


def fusable(module: Any) -> bool:
    """Whether `module` is a PEFT LoRA linear that `fuse` can take over."""
    from peft.tuners.lora import layer

    if not isinstance(module, layer.Linear) or len(module.active_adapters) != 1:
        return False
    name = module.active_adapters[0]
    base = module.get_base_layer()
    return (
        name in module.lora_A
        and not module.merged
        and not module.disable_adapters
        and name not in module.lora_variant  # DoRA and the other variants
        and isinstance(module.lora_dropout[name], torch.nn.Identity)
        and module.lora_B[name].bias is None
        and not getattr(module, "fan_in_fan_out", False)
        and type(base) is torch.nn.Linear
        and not base.weight.requires_grad
        and (base.bias is None or not base.bias.requires_grad)
    )


def fuse(net: torch.nn.Module) -> int:
    """Run every LoRA linear of `net` that can be (see `fusable`) as one folded matmul;
    returns how many were taken over."""
    count = 0
    for module in net.modules():
        if fusable(module):
            module.forward = types.MethodType(_forward, module)
            count += 1
    return count


def _forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    name = self.active_adapters[0]
    base = self.get_base_layer()
    out_features, in_features = base.weight.shape
    rows = x.numel() // max(1, x.shape[-1])
    peft_forward: Any = type(self).forward
    if args or kwargs or self.disable_adapters or self.merged or name not in self.lora_A:
        return peft_forward(self, x, *args, **kwargs)  # type: ignore[no-any-return]
    if rows * (in_features + out_features) < in_features * out_features:
        return peft_forward(self, x)  # type: ignore[no-any-return]  # too few rows to fold
    return _FoldedLora.apply(  # type: ignore[no-untyped-call,no-any-return]
        x,
        base.weight,
        base.bias,
        self.lora_A[name].weight,
        self.lora_B[name].weight,
        float(self.scaling[name]),
    )
