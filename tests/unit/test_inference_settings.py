"""The inference settings: defaults, TUNEYARD_* twins, `tuneyard serve` flags, checks."""

from __future__ import annotations

import pytest

from tuneyard import errors
from tuneyard.api import inference
from tuneyard.cli import main
from tuneyard.settings import Settings

_NAMES = ("inference_threads", "max_loaded_adapters", "max_queued_requests")


def _values(settings: Settings) -> tuple[object, ...]:
    return (*(getattr(settings, n) for n in _NAMES), settings.inference_idle_seconds)


def test_defaults_and_environment_twins() -> None:
    assert _values(Settings.load(env={})) == (1, 8, 64, 300.0)
    env = {
        "TUNEYARD_INFERENCE_THREADS": "3",
        "TUNEYARD_MAX_LOADED_ADAPTERS": "2",
        "TUNEYARD_MAX_QUEUED_REQUESTS": "5",
        "TUNEYARD_INFERENCE_IDLE_SECONDS": "1.5",
    }
    assert _values(Settings.load(env=env)) == (3, 2, 5, 1.5)


def test_serve_flags_override_the_environment() -> None:
    args = main._parser().parse_args(
        ["serve", "--inference-threads", "4", "--max-loaded-adapters", "16",
         "--max-queued-requests", "9", "--inference-idle-seconds", "30"]
    )  # fmt: skip
    settings = main._settings(args)
    assert _values(settings) == (4, 16, 9, 30.0)


def test_bad_values_are_all_reported() -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load(
            {
                "inference_threads": 0,
                "max_loaded_adapters": 0,
                "max_queued_requests": 0,
                "inference_idle_seconds": 0,
            },
            env={},
        )
    for name in (*_NAMES, "inference_idle_seconds"):
        assert name.replace("_", "-") in caught.value.message


def test_the_worker_client_takes_the_settings(tmp_path: object) -> None:
    settings = Settings.load(
        {"inference_threads": 2, "max_loaded_adapters": 3, "max_queued_requests": 4,
         "inference_idle_seconds": 5.0, "data_dir": tmp_path},
        env={},
    )  # fmt: skip
    client = inference.worker_client(settings)
    assert (client.threads, client.max_loaded_adapters, client.max_queued) == (2, 3, 4)
    assert client.idle_seconds == 5.0 and client.env["OMP_NUM_THREADS"] == "2"
    assert client.log_path is not None and client.log_path.name == "inference.log"


def test_inference_slots_are_the_engines_batch_and_the_deployable_slots(tmp_path: object) -> None:
    """`--inference-slots` (TUNEYARD_INFERENCE_SLOTS): the worker's `--max-running`, and
    what deployments reserve their capacity from."""
    assert Settings.load(env={}).inference_slots == 64
    assert Settings.load(env={"TUNEYARD_INFERENCE_SLOTS": "12"}).inference_slots == 12
    args = main._parser().parse_args(["serve", "--inference-slots", "6"])
    assert main._settings(args).inference_slots == 6
    with pytest.raises(errors.InvalidRequest, match="inference-slots"):
        Settings.load({"inference_slots": 0}, env={})
    settings = Settings.load({"inference_slots": 7, "data_dir": tmp_path}, env={})
    assert inference.worker_client(settings).max_running == 7
