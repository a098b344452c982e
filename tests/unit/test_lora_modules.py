"""The layers a base model has for LoRA to wrap, read without torch: tiny-chat's are
known, a configured model's come from its safetensors headers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from tuneyard.basemodels import catalog, tinychat


def _safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    header = {
        name: {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}
        for name, shape in shapes.items()
    }
    header["__metadata__"] = {"format": "pt"}  # type: ignore[assignment]
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def test_a_configured_model_lists_the_2d_weights_of_its_safetensors(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    _safetensors(
        folder / "model-00001-of-00002.safetensors",
        {"model.layers.0.self_attn.q_proj.weight": [8, 8], "model.norm.weight": [8]},
    )
    _safetensors(
        folder / "model-00002-of-00002.safetensors",
        {"model.layers.0.mlp.up_proj.weight": [16, 8], "model.layers.0.mlp.up_proj.bias": [16]},
    )
    (folder / "broken.safetensors").write_bytes(b"\xff" * 12)
    (tmp_path / "models.toml").write_text('[models."mine"]\npath = "my-model"\n')
    model = catalog.load(tmp_path).get("mine")
    assert model is not None and model.lora_modules == ("q_proj", "up_proj")


def test_a_model_without_readable_weights_has_no_known_layers(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "models.toml").write_text('[models."bare"]\npath = "empty"\n')
    model = catalog.load(tmp_path).get("bare")
    assert model is not None and model.lora_modules == ()


def test_tiny_chat_layers_are_those_of_its_weights(tiny_dir: Path) -> None:
    read = catalog._lora_modules(tiny_dir)
    assert set(tinychat.LORA_MODULES) <= set(read)
    assert set(read) - set(tinychat.LORA_MODULES) <= {"embed_tokens", "lm_head"}
    built_in = catalog.load(tiny_dir.parent).get("tiny-chat")
    assert built_in is not None and built_in.lora_modules == tinychat.LORA_MODULES
