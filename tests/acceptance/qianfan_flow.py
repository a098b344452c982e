"""The Qianfan SDK flow of issue 11, as a user runs it: configured only through
QIANFAN_CONSOLE_API_BASE_URL, QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY.

`python qianfan_flow.py FILE_ID` prints one JSON object with what the SDK returned.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from qianfan.resources import FineTune

QUICK = {"epoch": 1, "batchSize": 8, "maxSeqLen": 256, "learningRate": 0.0003,
         "checkpointCount": 2}  # fmt: skip
LONG = {**QUICK, "epoch": 50}


def dataset(file_id: str) -> dict[str, Any]:
    return {"sourceType": "Platform", "versions": [{"versionId": file_id}], "splitRatio": 10}


def poll(task_id: str, until: set[str], timeout: float = 300) -> list[dict[str, Any]]:
    """task_detail until runStatus is in `until`; every result seen."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(FineTune.V2.task_detail(task_id=task_id)["result"])
        if seen[-1]["runStatus"] in until:
            return seen
        time.sleep(0.3)
    raise SystemExit(f"task {task_id} stuck: {seen[-1]}")


def main(file_id: str) -> None:
    out: dict[str, Any] = {}
    job_id = FineTune.V2.create_job(
        name="arith", model="tiny-chat", train_mode="SFT", description="sums"
    )["result"]["jobId"]
    out["job_id"] = job_id
    task_id = FineTune.V2.create_task(
        job_id=job_id, params_scale="LoRA", hyper_params=QUICK, dataset_config=dataset(file_id)
    )["result"]["taskId"]
    out["task_id"] = task_id
    seen = poll(task_id, {"Done", "Failed", "Stopped"})
    out["statuses"] = [s["runStatus"] for s in seen]
    out["progress"] = [s["runProgress"] for s in seen if "runProgress" in s]
    out["done"] = seen[-1]
    out["job_list"] = FineTune.V2.job_list(train_model="SFT", max_keys=10)["result"]
    out["task_list"] = FineTune.V2.task_list(job_id=job_id)["result"]
    second = FineTune.V2.create_task(
        job_id=job_id, params_scale="LoRA", hyper_params=LONG, dataset_config=dataset(file_id)
    )["result"]["taskId"]
    out["second"] = second
    running = poll(second, {"Running", "Done", "Failed", "Stopped"})[-1]
    out["second_running"] = running
    out["stop"] = FineTune.V2.stop_task(task_id=second)["result"]
    out["second_final"] = poll(second, {"Stopped", "Done", "Failed"}, timeout=120)[-1]
    out["stop_again"] = FineTune.V2.stop_task(task_id=second)["result"]
    out["models"] = [m["model"] for m in FineTune.V2.supported_models()["result"]]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
