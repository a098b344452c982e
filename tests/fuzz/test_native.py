"""Native (`/tuneyard/v1`): hostile job ids, event cursors and export bodies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as hostile
from tests.fuzz.conftest import FUZZ, Fuzzer
from tests.fuzz.routes import Route, requests
from tests.support.world import EXAMPLES

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()

ROUTES = [
    Route("GET", "/tuneyard/v1/models"),
    Route("GET", "/tuneyard/v1/jobs/{id}/events", query=("after",), ids=("job_id",)),
    Route("GET", "/tuneyard/v1/jobs/{id}/checkpoints", ids=("job_id",)),
    Route(
        "POST", "/tuneyard/v1/jobs/{id}/export", body={"step": 2, "merged": False}, ids=("job_id",)
    ),
]


@pytest.mark.parametrize("route", ROUTES, ids=str)
@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_no_request_gets_a_5xx_or_another_envelope(
    fuzzer: Fuzzer, route: Route, data: st.DataObject
) -> None:
    method, url, kwargs = data.draw(requests(route, fuzzer))
    kwargs["headers"] = {**kwargs.get("headers", {}), **fuzzer.bearer}
    fuzzer.send("native", method, url, **kwargs)


@settings(FUZZ, max_examples=50)
@given(
    fields=st.dictionaries(
        st.sampled_from(["format", "model", "task_type", "max_issues"]), hostile.text(), max_size=4
    ),
    content=st.sampled_from([b"", b"{}\n", b"\x00\xff", CHAT]),
)
def test_dataset_checks_never_get_a_5xx(
    fuzzer: Fuzzer, fields: dict[str, str], content: bytes
) -> None:
    fuzzer.send(
        "native",
        "POST",
        "/tuneyard/v1/datasets/validate",
        headers=fuzzer.bearer,
        data=fields,
        files={"file": ("train.jsonl", content)},
    )
