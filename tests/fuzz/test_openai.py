"""OpenAI (`/v1`): hostile job, file, event and checkpoint cursors, limits, metadata
filters, and create bodies with one field broken."""

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
    "training_file": "<file>",
    "suffix": "fz",
    "seed": 3,
    "metadata": {"team": "fuzz"},
    "method": {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": "auto"}},
    },
}
ROUTES = [
    Route("POST", "/v1/fine_tuning/jobs", body=CREATE),
    Route("GET", "/v1/fine_tuning/jobs", query=("after", "limit", "metadata[team]")),
    Route("GET", "/v1/fine_tuning/jobs/{id}", ids=("openai_job",)),
    Route("POST", "/v1/fine_tuning/jobs/{id}/cancel"),
    Route("POST", "/v1/fine_tuning/jobs/{id}/pause", ids=("openai_job",)),
    Route("POST", "/v1/fine_tuning/jobs/{id}/resume", ids=("openai_job",)),
    Route("GET", "/v1/fine_tuning/jobs/{id}/events", query=("after", "limit"), ids=("openai_job",)),
    Route(
        "GET",
        "/v1/fine_tuning/jobs/{id}/checkpoints",
        query=("after", "limit"),
        ids=("openai_job",),
    ),
    Route("GET", "/v1/files", query=("after", "limit", "order", "purpose")),
    Route("GET", "/v1/files/{id}", ids=("file_id",)),
    Route("GET", "/v1/files/{id}/content", ids=("file_id",)),
    Route("DELETE", "/v1/files/{id}"),
]


@pytest.mark.parametrize("route", ROUTES, ids=str)
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_no_request_gets_a_5xx_or_another_envelope(
    fuzzer: Fuzzer, route: Route, data: st.DataObject
) -> None:
    CREATE["training_file"] = fuzzer.file_id
    method, url, kwargs = data.draw(requests(route, fuzzer))
    kwargs["headers"] = {**kwargs.get("headers", {}), **fuzzer.bearer}
    fuzzer.send("openai", method, url, **kwargs)


@settings(FUZZ, max_examples=50)
@given(
    purpose=hostile.text() | st.just("fine-tune"),
    name=hostile.text(),
    content=st.sampled_from([b"", b"{}\n", b"\x00\xff", CHAT]),
)
def test_uploads_never_get_a_5xx(fuzzer: Fuzzer, purpose: str, name: str, content: bytes) -> None:
    fuzzer.send(
        "openai",
        "POST",
        "/v1/files",
        headers=fuzzer.bearer,
        data={"purpose": purpose},
        files={"file": (name.replace("\x00", "") or "f", content)},
    )
