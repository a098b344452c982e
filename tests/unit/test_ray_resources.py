"""What a job asks of a Ray cluster: the estimate by method and shape, and the model sizes
read from safetensors headers (no weights loaded)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from tuneyard.basemodels import tinychat
from tuneyard.core.jobs import BaseModelRef, Hyperparameters
from tuneyard.kinds import Method
from tuneyard.scheduler.executors import resources
from tuneyard.scheduler.executors.resources import ModelSize

GIB = 1 << 30
SEVEN_B = ModelSize(parameters=7_000_000_000, hidden_size=4096, layers=32)


def test_full_training_holds_sixteen_bytes_a_parameter_plus_activations() -> None:
    hp = Hyperparameters(batch_size=1, max_seq_len=16)
    need = resources.estimate(ModelSize(1_000_000, 64, 2), Method.FULL, hp, gpu=False)
    activations = 16 * 2 * 64 * resources.ACTIVATION_BYTES
    assert need.training_bytes == 16_000_000 + activations
    assert need.memory_bytes == need.training_bytes + resources.RUNTIME_BYTES
    assert (need.cpus, need.gpus) == (1, 0)


def test_lora_holds_the_frozen_weights_and_state_for_the_adapters_only() -> None:
    hp = Hyperparameters(batch_size=1, max_seq_len=16, lora_rank=8)
    size = ModelSize(1_000_000, 64, 2)
    need = resources.estimate(size, Method.LORA, hp, gpu=False)
    adapters = 2 * 8 * 64 * resources.LORA_LINEARS_PER_LAYER * 2
    activations = 16 * 2 * 64 * resources.ACTIVATION_BYTES
    assert need.training_bytes == 4_000_000 + 16 * adapters + activations
    full = resources.estimate(size, Method.FULL, hp, gpu=False)
    assert need.training_bytes < full.training_bytes


def test_a_seven_billion_model_by_method_and_device() -> None:
    hp = Hyperparameters(batch_size=1, max_seq_len=512)
    full = resources.estimate(SEVEN_B, Method.FULL, hp, gpu=True)
    lora = resources.estimate(SEVEN_B, Method.LORA, hp, gpu=True)
    assert 105 * GIB < full.training_bytes < 110 * GIB  # 16 B x 7e9, plus ~4.2 GiB
    assert 30 * GIB < lora.training_bytes < 31 * GIB  # 28 GB of fp32 weights, plus activations
    # On a GPU the host holds the weights once while they load; one GPU, one CPU.
    assert (lora.gpus, lora.cpus) == (1, 1)
    assert lora.memory_bytes == 28_000_000_000 + resources.RUNTIME_BYTES
    # Without one, the footprint is host memory, and a big model gets more cores.
    on_cpu = resources.estimate(SEVEN_B, Method.LORA, hp, gpu=False)
    assert on_cpu.gpus == 0 and on_cpu.cpus == resources.MAX_CPUS
    assert on_cpu.memory_bytes == lora.training_bytes + resources.RUNTIME_BYTES


def test_longer_and_bigger_batches_need_more_memory() -> None:
    small = resources.estimate(SEVEN_B, Method.LORA, Hyperparameters(batch_size=1), gpu=True)
    big = resources.estimate(SEVEN_B, Method.LORA, Hyperparameters(batch_size=8), gpu=True)
    assert big.training_bytes - small.training_bytes == 7 * 512 * 32 * 4096 * 68


def test_an_unknown_shape_counts_another_copy_of_the_weights() -> None:
    hp = Hyperparameters()
    need = resources.estimate(ModelSize(1_000_000), Method.LORA, hp, gpu=False)
    assert need.training_bytes == 4_000_000 + 16 * 20_000 + 4_000_000


def _safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    header = {
        name: {"dtype": "F16", "shape": shape, "data_offsets": [0, 0]}
        for name, shape in shapes.items()
    }
    header["__metadata__"] = {"format": "pt"}  # type: ignore[assignment]
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def test_sizes_come_from_safetensors_headers_and_config(tmp_path: Path) -> None:
    _safetensors(tmp_path / "model-00001.safetensors", {"a": [10, 20], "b": [5]})
    _safetensors(tmp_path / "model-00002.safetensors", {"c": [3, 3, 3]})
    (tmp_path / "config.json").write_text('{"hidden_size": 20, "num_hidden_layers": 3}')
    assert resources.read_size(tmp_path) == ModelSize(200 + 5 + 27, 20, 3)


def test_without_a_config_the_shape_comes_from_the_tensor_names(tmp_path: Path) -> None:
    _safetensors(
        tmp_path / "model.safetensors",
        {
            "model.embed_tokens.weight": [100, 16],
            "model.layers.0.mlp.up_proj.weight": [32, 16],
            "model.layers.1.mlp.up_proj.weight": [32, 16],
        },
    )
    assert resources.read_size(tmp_path) == ModelSize(1600 + 2 * 512, 16, 2)


def test_the_built_in_models_are_sized_without_loading_them() -> None:
    tiny = resources.model_size(BaseModelRef("tiny-chat", "tiny-chat", "/nowhere"))
    assert 3_000_000 < tiny.parameters < 3_500_000  # "a 3.3M-parameter" model
    assert (tiny.hidden_size, tiny.layers) == (256, 4)
    assert tinychat.WEIGHTS.is_file()
    minilm = resources.model_size(BaseModelRef("minilm-l6", "minilm-l6", None))
    assert 22_000_000 < minilm.parameters < 23_000_000
    assert (minilm.hidden_size, minilm.layers) == (384, 6)


def test_a_folder_without_weights_is_size_zero(tmp_path: Path) -> None:
    assert resources.model_size(BaseModelRef("mine", "path", str(tmp_path))) == ModelSize(0)
