"""The real `qianfan` SDK against a real server: bce-auth-v1 signing and the first Action."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import Server, cli

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

qianfan = pytest.importorskip("qianfan")
from qianfan.errors import RequestError  # noqa: E402
from qianfan.resources import FineTune  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("tuneyard-qianfan"))
    qianfan.get_config().CONSOLE_API_BASE_URL = running.base
    yield running
    assert running.interrupt() == 0, running.output()


@pytest.fixture(scope="module")
def pair(server: Server) -> tuple[str, str]:
    access_key, secret_key = cli(
        "keys", "create", "--kind", "aksk", "--workspace", "qf", data_dir=server.data_dir
    ).split()
    return access_key, secret_key


def test_support_models_through_the_sdk(pair: tuple[str, str]) -> None:
    access_key, secret_key = pair
    models = FineTune.V2.supported_models(ak=access_key, sk=secret_key)
    assert models.code == 200
    assert "tiny-chat" in [m["model"] for m in models["result"]]


def test_a_wrong_secret_key_and_an_old_signature_are_refused(
    pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    access_key, _ = pair
    with pytest.raises(RequestError) as wrong:
        FineTune.V2.supported_models(ak=access_key, sk="0" * 32)
    assert wrong.value.status_code == 400 and "SignatureDoesNotMatch" in str(wrong.value)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 600)  # signed 10 minutes ago
    with pytest.raises(RequestError) as old:
        FineTune.V2.supported_models(ak=access_key, sk=pair[1])
    monkeypatch.undo()
    assert old.value.status_code == 400 and "RequestExpired" in str(old.value)


def test_the_server_never_logs_the_secret(server: Server, pair: tuple[str, str]) -> None:
    assert pair[1] not in server.output()
    assert pair[1].encode() not in Path(server.data_dir, "tuneyard.db").read_bytes()
