"""Models for the serving tests and benchmark: LoRA adapters and a "full fine-tuned" model
made on the spot from tiny-chat, saved as jobs save them (with the tokenizer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peft
import torch
import transformers

from tuneyard.basemodels import tinychat


def random_lora(tiny_dir: Path, folder: Path, seed: int, scale: float = 0.2, **config: Any) -> Path:
    """A LoRA adapter on tiny-chat with random non-zero B matrices, saved as jobs save it."""
    settings: dict[str, Any] = {
        "r": 8,
        "lora_alpha": 16,
        "target_modules": list(tinychat.LORA_MODULES),
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
        wrapped = peft.get_peft_model(
            net, peft.LoraConfig(task_type=peft.TaskType.CAUSAL_LM, **{**settings, **config})
        )
        with torch.no_grad():
            for name, parameter in wrapped.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, scale)
    wrapped.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(tiny_dir).save_pretrained(folder)
    return folder


def perturbed(tiny_dir: Path, folder: Path, seed: int) -> Path:
    """tiny-chat with every weight nudged: a stand-in for a full fine-tuned output."""
    net = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(1 + 0.05 * torch.randn(parameter.shape, generator=generator))
    net.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(tiny_dir).save_pretrained(folder)
    return folder
