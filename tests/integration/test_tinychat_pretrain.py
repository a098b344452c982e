"""The script that made tiny-chat's shipped weights runs end to end and writes what ships."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tuneyard.basemodels import tinychat
from tuneyard.basemodels.tinychat_pretrain import main

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _torch_state() -> Iterator[None]:
    """The script sets process-wide torch state (deterministic algorithms, the seed)."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        yield
    torch.use_deterministic_algorithms(deterministic)


def test_a_short_run_writes_fp16_weights_in_the_shipped_layout_and_a_report(
    tmp_path: Path,
) -> None:
    args = ["--out", str(tmp_path), "--steps", "4", "--batch", "2", "--seq-len", "64"]
    assert main([*args, "--save-every", "2", "--eval-prompts", "1", "--log-every", "2"]) == 0
    weights = load_file(tmp_path / "model" / "model.safetensors")
    assert set(weights) == set(load_file(tinychat.WEIGHTS))  # tied head saved once
    assert {t.dtype for t in weights.values()} == {torch.float16}
    assert (tmp_path / "step-00002" / "model.safetensors").is_file()
    untrained = tinychat.untrained().state_dict()
    changed = weights["model.layers.0.mlp.up_proj.weight"].float()
    assert not torch.equal(changed, untrained["model.layers.0.mlp.up_proj.weight"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["tokens_seen"] == 4 * 2 * 64
    assert [point["step"] for point in report["curve"]] == [2, 4]
    assert set(report["family_accuracy"]) >= {"copy", "reverse", "arithmetic"}
    assert len(report["corpus_fingerprint"]) == 64
