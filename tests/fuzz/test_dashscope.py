"""DashScope (`/api/v1`): hostile job, file, checkpoint and deployment ids, paging and log
windows, export names, and create and deploy bodies with one field broken."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as hostile
from tests.fuzz.conftest import FUZZ, Fuzzer
from tests.fuzz.routes import Route, requests
from tests.support.world import EXAMPLES

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()

CREATE = {
    "model": "tiny-chat",
    "training_type": "efficient_sft",
    "training_file_ids": ["<file>"],
    "job_name": "fuzz",
    "finetuned_output_suffix": "fz",
    "hyper_parameters": {
        "n_epochs": 1,
        "learning_rate": "1e-4",
        "batch_size": 4,
        "max_length": 512,
        "lr_scheduler_type": "cosine",
        "split": 0.9,
        "lora_rank": 8,
        "save_strategy": "steps",
        "save_steps": 10,
        "seed": 7,
    },
}
DEPLOY = {"model_name": "tiny-chat", "capacity": 1, "suffix": "fz", "plan": "lora"}
ROUTES = [
    Route("POST", "/api/v1/fine-tunes", body=CREATE),
    Route("GET", "/api/v1/fine-tunes", query=("page_no", "page_size", "model")),
    Route("GET", "/api/v1/fine-tunes/{id}", ids=("job_id",)),
    Route("POST", "/api/v1/fine-tunes/{id}/cancel"),
    Route("DELETE", "/api/v1/fine-tunes/{id}"),
    Route("GET", "/api/v1/fine-tunes/{id}/logs", query=("offset", "line"), ids=("job_id",)),
    Route("GET", "/api/v1/fine-tunes/{id}/checkpoints", ids=("job_id",)),
    Route(
        "GET",
        "/api/v1/fine-tunes/{id}/export/{id}",
        query=("model_name",),
        ids=("job_id", "checkpoint"),
    ),
    Route("GET", "/api/v1/files", query=("page_no", "page_size")),
    Route("GET", "/api/v1/files/{id}", ids=("file_id",)),
    Route("DELETE", "/api/v1/files/{id}"),
    Route("POST", "/api/v1/deployments", body=DEPLOY),
    Route("GET", "/api/v1/deployments", query=("page_no", "page_size")),
    Route("GET", "/api/v1/deployments/models", query=("page_no", "page_size")),
    Route("GET", "/api/v1/deployments/{id}"),
    Route("PUT", "/api/v1/deployments/{id}/scale", body={"capacity": 2}),
    Route("DELETE", "/api/v1/deployments/{id}"),
]


@pytest.mark.parametrize("route", ROUTES, ids=str)
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_no_request_gets_a_5xx_or_another_envelope(
    fuzzer: Fuzzer, route: Route, data: st.DataObject
) -> None:
    CREATE["training_file_ids"] = [fuzzer.file_id]
    method, url, kwargs = data.draw(requests(route, fuzzer))
    kwargs["headers"] = {**kwargs.get("headers", {}), **fuzzer.bearer}
    fuzzer.send("dashscope", method, url, **kwargs)


@settings(FUZZ, max_examples=50)
@given(
    fields=st.lists(
        st.tuples(st.sampled_from(["descriptions", "purpose"]), hostile.text()), max_size=3
    ),
    names=st.lists(hostile.text(), min_size=0, max_size=3),
    content=st.sampled_from([b"", b"{}\n", b"\x00\xff", CHAT]),
)
def test_uploads_never_get_a_5xx(
    fuzzer: Fuzzer, fields: list[tuple[str, str]], names: list[str], content: bytes
) -> None:
    files = [("files", (name.replace("\x00", "") or "f", content)) for name in names]
    form: dict[str, list[str]] = {}
    for key, value in fields:
        form.setdefault(key, []).append(value)
    fuzzer.send("dashscope", "POST", "/api/v1/files", headers=fuzzer.bearer, data=form, files=files)
