"""Qianfan (`/v2/finetuning?Action=…`): every Action with its body broken one field at a
time, unknown Actions, and hostile bce-auth-v1 headers; requests are signed as the SDK
signs them, so they get past the signature check."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as hostile
from tests.fuzz.conftest import FUZZ, Fuzzer


def bodies(fuzzer: Fuzzer) -> dict[str, dict[str, Any]]:
    """A valid body of each Action, aimed at the fuzzer's real job group, task and file."""
    return {
        "CreateFineTuningJob": {
            "name": "fuzzjob",
            "description": "d",
            "model": "tiny-chat",
            "trainMode": "SFT",
        },
        "CreateFineTuningTask": {
            "jobId": fuzzer.group_id,
            "parameterScale": "LoRA",
            "hyperParameterConfig": {
                "epoch": 1,
                "learningRate": 0.0003,
                "batchSize": 4,
                "loraTargetModules": ["q_proj", "v_proj"],
                "loraAllLinear": False,
                "Packing": True,
            },
            "datasetConfig": {
                "sourceType": "Platform",
                "versions": [{"versionId": fuzzer.file_id}],
                "splitRatio": 10,
            },
        },
        "DescribeFineTuningJobs": {"maxKeys": 10, "marker": "", "pageReverse": False},
        "DescribeFineTuningTasks": {"jobId": fuzzer.group_id, "maxKeys": 10},
        "DescribeFineTuningTask": {"taskId": fuzzer.job_id},
        "StopFineTuningTask": {"taskId": "task-000000000000"},
        "DeleteFineTuningTask": {"taskId": "task-000000000000"},
        "DeleteFineTuningJob": {"jobId": "job-000000000000"},
        "DescribeFineTuningSupportModels": {},
    }


ACTIONS = [
    "CreateFineTuningJob",
    "CreateFineTuningTask",
    "DescribeFineTuningJobs",
    "DescribeFineTuningTasks",
    "DescribeFineTuningTask",
    "StopFineTuningTask",
    "DeleteFineTuningTask",
    "DeleteFineTuningJob",
    "DescribeFineTuningSupportModels",
    "<unknown>",
]


@pytest.mark.parametrize("action", ACTIONS)
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_no_action_gets_a_5xx_or_another_envelope(
    fuzzer: Fuzzer, action: str, data: st.DataObject
) -> None:
    valid = bodies(fuzzer)
    if action == "<unknown>":
        action = data.draw(hostile.text(), label="action")
    body = data.draw(hostile.bodies(valid.get(action, {})), label="body")
    query = [("Action", action), *data.draw(hostile.queries(["marker", "maxKeys"]))]
    fuzzer.send(
        "qianfan",
        "POST",
        "/v2/finetuning",
        params=query,
        content=body,
        headers=fuzzer.qianfan_headers(query),
    )


@settings(FUZZ, max_examples=200)
@given(
    expiration=hostile.text(),
    stamp=st.sampled_from(
        ["2026-11-23T04:07:06Z", "２０２６-11-23T04:07:06Z", "9999-12-31T23:59:59Z"]
    )
    | hostile.text(),
    tamper=st.sampled_from(["none", "ak", "signed", "prefix"]),
    junk=hostile.text(),
)
def test_hostile_authorization_headers_get_a_4xx(
    fuzzer: Fuzzer, expiration: str, stamp: str, tamper: str, junk: str
) -> None:
    query = [("Action", "DescribeFineTuningSupportModels")]
    headers = fuzzer.qianfan_headers(query, expiration=expiration, stamp=stamp)
    parts = headers["authorization"].split("/")
    if tamper == "ak":
        parts[1] = junk
    elif tamper == "signed":
        parts[4] = junk
    elif tamper == "prefix":
        parts[0] = junk
    headers["authorization"] = "/".join(parts)
    sent = {name: value.encode("utf-8") for name, value in headers.items()}  # any bytes
    fuzzer.send(
        "qianfan", "POST", "/v2/finetuning", params=query, content=json.dumps({}), headers=sent
    )
