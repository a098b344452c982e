"""CLOVA (`/tuning/v2`): hostile task ids, paging, JSON and multipart create bodies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as hostile
from tests.fuzz.conftest import FUZZ, Fuzzer
from tests.fuzz.routes import Route, requests

CREATE = {
    "name": "fuzz",
    "model": "tiny-chat",
    "tuningType": "PEFT",
    "taskType": "GENERATION",
    "trainEpochs": 2,
    "learningRate": 1e-4,
    "trainingDatasetBucket": "bucket",
    "trainingDatasetFilePath": "train.csv",
    "trainingDatasetAccessKey": "ak",
    "trainingDatasetSecretKey": "sk",
}
ROUTES = [
    Route("POST", "/tuning/v2/tasks", body=CREATE),
    Route("GET", "/tuning/v2/tasks", query=("page", "size")),
    Route("GET", "/tuning/v2/tasks/{id}", ids=("job_id",)),
    Route("DELETE", "/tuning/v2/tasks/{id}"),
]


@pytest.mark.parametrize("route", ROUTES, ids=str)
@settings(FUZZ, max_examples=75)
@given(data=st.data())
def test_no_request_gets_a_5xx_or_another_envelope(
    fuzzer: Fuzzer, route: Route, data: st.DataObject
) -> None:
    method, url, kwargs = data.draw(requests(route, fuzzer))
    kwargs["headers"] = {**kwargs.get("headers", {}), **fuzzer.bearer}
    fuzzer.send("clova", method, url, **kwargs)


@settings(FUZZ, max_examples=60)
@given(
    fields=st.dictionaries(st.sampled_from(sorted(CREATE)), hostile.text(), max_size=6),
    content=st.binary(max_size=256),
    filename=hostile.text(),
)
def test_multipart_creates_never_get_a_5xx(
    fuzzer: Fuzzer, fields: dict[str, str], content: bytes, filename: str
) -> None:
    form = {**{k: str(v) for k, v in CREATE.items() if not k.startswith("trainingDataset")}}
    form.update(fields)
    fuzzer.send(
        "clova",
        "POST",
        "/tuning/v2/tasks",
        headers=fuzzer.bearer,
        data=form,
        files={"file": (filename.replace("\x00", "") or "f", content)},
    )
