"""Small HTTP clients for each dialect, as their SDKs speak to a real server: upload a
dataset, create a job, read its status. Used by tests that drive several dialects at once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx

from tuneyard.api.dialects.qianfan import signature

DONE = {
    "clova": "SUCCEEDED",
    "dashscope": "SUCCEEDED",
    "openai": "succeeded",
    "qianfan": "Done",
}
"""Each dialect's word for a job that succeeded."""


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, f"{response.request.url}: {response.text}"
    return response.json()


class Bearer:
    """CLOVA, DashScope and OpenAI requests with `Authorization: Bearer <key>`."""

    def __init__(self, key: str) -> None:
        self.headers = {"Authorization": f"Bearer {key}"}

    def clova_task(self, client: httpx.Client, csv: bytes, **fields: str) -> str:
        """POST /tuning/v2/tasks with the dataset as a multipart `file`; the task id."""
        body = _ok(
            client.post(
                "/tuning/v2/tasks",
                headers=self.headers,
                data=fields,
                files={"file": ("train.csv", csv, "text/csv")},
            )
        )
        return str(body["result"]["id"])

    def dashscope_job(self, client: httpx.Client, jsonl: bytes, **body: Any) -> str:
        """Upload through /api/v1/files, then POST /api/v1/fine-tunes; the job id."""
        uploaded = _ok(
            client.post(
                "/api/v1/files", headers=self.headers, files=[("files", ("train.jsonl", jsonl))]
            )
        )["data"]
        assert not uploaded["failed_uploads"], uploaded
        file_id = uploaded["uploaded_files"][0]["file_id"]
        request = {"model": "tiny-chat", "training_file_ids": [file_id], **body}
        created = _ok(client.post("/api/v1/fine-tunes", headers=self.headers, json=request))
        return str(created["output"]["job_id"])

    def openai_job(self, client: httpx.Client, jsonl: bytes, **body: Any) -> str:
        """Upload through /v1/files, then POST /v1/fine_tuning/jobs; the job id."""
        uploaded = _ok(
            client.post(
                "/v1/files",
                headers=self.headers,
                files={"file": ("train.jsonl", jsonl)},
                data={"purpose": "fine-tune"},
            )
        )
        assert uploaded["status"] == "processed", uploaded
        request = {"model": "tiny-chat", "training_file": uploaded["id"], **body}
        created = _ok(client.post("/v1/fine_tuning/jobs", headers=self.headers, json=request))
        return str(created["id"])

    def status(self, client: httpx.Client, dialect: str, job_id: str) -> str:
        """The job's status in its dialect's words."""
        if dialect == "clova":
            body = _ok(client.get(f"/tuning/v2/tasks/{job_id}", headers=self.headers))
            return str(body["result"]["status"])
        if dialect == "dashscope":
            body = _ok(client.get(f"/api/v1/fine-tunes/{job_id}", headers=self.headers))
            return str(body["output"]["status"])
        body = _ok(client.get(f"/v1/fine_tuning/jobs/{job_id}", headers=self.headers))
        return str(body["status"])


class Qianfan:
    """Qianfan Actions signed with bce-auth-v1, as the qianfan SDK signs them."""

    def __init__(self, access_key: str, secret_key: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key

    def call(self, client: httpx.Client, action: str, body: dict[str, Any]) -> Any:
        """POST /v2/finetuning?Action=…; the `result`."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "host": client.base_url.netloc.decode("ascii"),
            "content-type": "application/json",
            "x-bce-date": stamp,
        }
        order = ("host", "x-bce-date", "content-type")
        auth = signature.Authorization(self.access_key, stamp, 300, order, "")
        canonical = signature.canonical_request(
            "POST", "/v2/finetuning", [("Action", action)], headers, order
        )
        signed = signature.sign(self.secret_key, auth, canonical)
        headers["authorization"] = (
            f"bce-auth-v1/{self.access_key}/{stamp}/300/{';'.join(order)}/{signed}"
        )
        response = client.post(
            f"/v2/finetuning?Action={action}", content=json.dumps(body), headers=headers
        )
        return _ok(response)["result"]

    def task(self, client: httpx.Client, file_id: str, hyperparameters: dict[str, Any]) -> str:
        """CreateFineTuningJob (the group), then a LoRA CreateFineTuningTask on a Platform
        file id; the task id."""
        group = self.call(
            client,
            "CreateFineTuningJob",
            {"name": "soak", "model": "tiny-chat", "trainMode": "SFT"},
        )["jobId"]
        dataset = {"sourceType": "Platform", "versions": [{"versionId": file_id}], "splitRatio": 10}
        created = self.call(
            client,
            "CreateFineTuningTask",
            {
                "jobId": group,
                "parameterScale": "LoRA",
                "hyperParameterConfig": hyperparameters,
                "datasetConfig": dataset,
            },
        )
        return str(created["taskId"])

    def status(self, client: httpx.Client, task_id: str) -> str:
        """The task's `runStatus`."""
        return str(self.call(client, "DescribeFineTuningTask", {"taskId": task_id})["runStatus"])
