"""LoRA on the embedded default learns: a CLOVA job on a task family held out of tiny-chat's
pretraining answers held-out prompts exactly, where neither the pretrained base alone nor
the same job on the untrained (random-init) tiny-chat does.

The family is `tinychat_corpus.uppercase` ("Uppercase: <letters>" → the letters in
capitals); no pretraining document upper-cases a whole word. The jobs keep CLOVA's defaults
(LoRA rank 8, alpha 16, batch 8, linear schedule) except epochs and learning rate.

The tuned job and the base are also served through OpenAI's `POST /v1/chat/completions`
(issue 22's end-to-end proof): masking, packing, the chat template, the saved adapter and
the served path agree when the served replies score exactly what `transformers` + `peft`
score on the same outputs.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Server, cli
from tuneyard.basemodels import tinychat, tinychat_corpus
from tuneyard.basemodels.tinychat_pretrain import exact_match

pytestmark = pytest.mark.integration

TRAIN_ROWS = 300
TEST_PROMPTS = 100
EPOCHS = "8"
LEARNING_RATE = "3e-3"

TRAIN, HELD_OUT = tinychat_corpus.split(
    tinychat_corpus.uppercase, seed=2112, train=TRAIN_ROWS, test=TEST_PROMPTS
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("tuneyard-data")
    tinychat.build_untrained(data_dir / "untrained")
    (data_dir / "models.toml").write_text(
        '[models."tiny-chat-untrained"]\npath = "untrained"\n', encoding="utf-8"
    )
    running = Server(data_dir)
    yield running
    assert running.interrupt() == 0, running.output()


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    return cli("keys", "create", "--workspace", "learns", data_dir=server.data_dir).strip()


def _dataset() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["System_Prompt", "C_ID", "T_ID", "Text", "Completion"])
    for number, (ask, reply) in enumerate(TRAIN):
        writer.writerow(["", number, 0, ask, reply])
    return buffer.getvalue().encode()


def _tune(server: Server, key: str, model: str) -> tuple[str, Path]:
    """Run the CLOVA job on `model`; its id and the folder of its tuned adapter."""
    response = server.client.post(
        "/tuning/v2/tasks",
        headers={"Authorization": f"Bearer {key}"},
        data={"model": model, "trainEpochs": EPOCHS, "learningRate": LEARNING_RATE},
        files={"file": ("uppercase.csv", _dataset(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["result"]["id"]
    final = server.poll_task(key, task_id, {"SUCCEEDED", "FAILED"}, timeout=600)[-1]
    assert final["status"] == "SUCCEEDED", final
    return task_id, server.data_dir / "jobs" / task_id / "output"


def _served_model(server: Server, key: str, task_id: str) -> str:
    """The job's OpenAI `fine_tuned_model` name (the same job, seen through that dialect)."""
    response = server.client.get(
        f"/v1/fine_tuning/jobs/ftjob-{task_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    name: str = response.json()["fine_tuned_model"]
    return name


def _served_replies(server: Server, key: str, model: str) -> list[str]:
    """Greedy replies to every held-out prompt through `POST /v1/chat/completions`, eight
    requests at a time so that they share the engine's batches."""

    def ask(prompt: str) -> str:
        response = server.client.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
                "max_tokens": 24,
            },
            timeout=120,
        )
        assert response.status_code == 200, response.text
        content: str = response.json()["choices"][0]["message"]["content"]
        return content

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(ask, [prompt for prompt, _ in HELD_OUT]))


def _exact(replies: list[str]) -> float:
    return sum(got == want for got, (_, want) in zip(replies, HELD_OUT, strict=True)) / len(
        HELD_OUT
    )


def _score(base: Path, adapter: Path | None) -> float:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    return exact_match(model, AutoTokenizer.from_pretrained(base), HELD_OUT)


def test_held_out_prompts_are_disjoint_from_training() -> None:
    assert len(HELD_OUT) == TEST_PROMPTS and len(TRAIN) == TRAIN_ROWS
    assert not {ask for ask, _ in TRAIN} & {ask for ask, _ in HELD_OUT}
    assert all(re.fullmatch(r"Uppercase: [a-z]{4,8}", ask) for ask, _ in HELD_OUT)


def test_lora_learns_a_held_out_task_only_on_the_pretrained_base(
    server: Server, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pretrained = server.data_dir / "models" / "tiny-chat"
    task_id, adapter = _tune(server, key, "tiny-chat")
    tuned = _score(pretrained, adapter)
    base_alone = _score(pretrained, None)
    untrained = _score(server.data_dir / "untrained", _tune(server, key, "tiny-chat-untrained")[1])
    # The same job served: /v1/chat/completions on its fine_tuned_model, and on the base.
    served = _exact(_served_replies(server, key, _served_model(server, key, task_id)))
    served_base = _exact(_served_replies(server, key, "tiny-chat"))
    with capsys.disabled():
        print(
            f"\nheld-out uppercase, {TEST_PROMPTS} prompts exact at temperature 0: "
            f"pretrained + LoRA {tuned:.0%} (served {served:.0%}), pretrained alone "
            f"{base_alone:.0%} (served {served_base:.0%}), untrained + LoRA {untrained:.0%}"
        )
    assert tuned >= 0.95
    assert base_alone <= 0.05
    assert untrained <= 0.05
    assert served == tuned and served_base == base_alone
