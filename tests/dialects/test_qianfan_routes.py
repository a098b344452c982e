"""Qianfan routes through the real app (TestClient), requests signed as the SDK signs them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import golden
from tests.support.opens import record_opens
from tests.support.world import EXAMPLES, ManualClock, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.api.dialects.qianfan import create as qianfan_create
from tuneyard.api.dialects.qianfan import signature
from tuneyard.core import ids
from tuneyard.core.jobs import TrainingSpec
from tuneyard.core.states import JobStatus
from tuneyard.datasets import validator
from tuneyard.scheduler.executors.fake import FakeExecutor, successful_run
from tuneyard.settings import Settings

SFT = (EXAMPLES / "qianfan-sft.jsonl").read_bytes()


def evaluated_run(spec: TrainingSpec) -> list[dict[str, Any]]:
    """A run that saves two checkpoints with their losses and ends with an evaluation."""
    events = successful_run(spec)
    saved = []
    for step, train, valid in ((2, 1.25, 1.5), (4, 0.75, 1.0)):
        path = Path(spec.work_dir) / "checkpoints" / f"step-{step:08d}"
        path.mkdir(parents=True)
        (path / "adapter_config.json").write_text("{}")
        saved.append(
            {"event": "checkpoint", "step": step, "epoch": step // 2, "path": str(path),
             "train_loss": train, "valid_loss": valid, "perplexity": round(2.718281828**valid, 4)}
        )  # fmt: skip
    Path(spec.output_dir).mkdir(parents=True)
    (Path(spec.output_dir) / "adapter_config.json").write_text("{}")
    scores = {"valid_loss": 1.0, "perplexity": 2.7183, "bleu4": 0.165634, "rouge1": 0.278391,
              "rouge2": 0.1196, "rougeL": 0.26021}  # fmt: skip
    return [*events[:-2], *saved, {"event": "evaluated", "metrics": scores}, *events[-2:]]


class Api:
    def __init__(self, tmp_path: Path, executor: FakeExecutor | None = None) -> None:
        self.clock = ManualClock()
        ports = make_ports("sqlite", tmp_path, self.clock)
        self.world = World(ports, tmp_path, executor or FakeExecutor(evaluated_run))
        self.client = TestClient(
            create_app(Settings(data_dir=tmp_path), self.world.service),
            raise_server_exceptions=False,
        )
        self.ak, self.sk = self.world.service.credentials.create_access_key("qf")
        self.ids: dict[str, str] = {}
        self.root = tmp_path

    def name(self, real: str, kind: str) -> str:
        return self.ids.setdefault(real, f"<{kind}-{len(self.ids) + 1}>")

    def upload(self, content: bytes = SFT, filename: str = "train.jsonl") -> str:
        stored, problem = self.world.service.uploads.upload_dataset(
            "qf", filename, [content], formats=validator.FORMATS
        )
        assert stored is not None, problem
        self.name(stored.id, "file-id")
        return stored.id

    def ok(self, action: str, body: dict[str, Any]) -> Any:
        response = self.post(action, body)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def create_job(self, name: str = "arith", mode: str = "SFT", **fields: Any) -> str:
        self.clock.advance(1)
        body = {"name": name, "model": "tiny-chat", "trainMode": mode, **fields}
        job_id: str = self.ok("CreateFineTuningJob", body)["jobId"]
        self.name(job_id, "job-id")
        return job_id

    def create_task(self, job_id: str, **fields: Any) -> str:
        self.clock.advance(1)
        body: dict[str, Any] = {
            "jobId": job_id,
            "parameterScale": "LoRA",
            "hyperParameterConfig": {"epoch": 2, "learningRate": 0.0003, "batchSize": 4},
            "datasetConfig": {
                "sourceType": "Platform",
                "versions": [{"versionId": fields.pop("file_id", None) or self.upload()}],
                "splitRatio": 10,
            },
            **fields,
        }
        task_id: str = self.ok("CreateFineTuningTask", body)["taskId"]
        self.name(task_id, "task-id")
        return task_id

    def detail(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("DescribeFineTuningTask", {"taskId": task_id})
        return result

    def post(
        self, action: str, body: dict[str, Any], *, sk: str | None = None, age_s: float = 0
    ) -> Any:
        signed_at = self.clock.now() - dt.timedelta(seconds=age_s)
        stamp = signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "host": "testserver",
            "content-type": "application/json",
            "x-bce-date": stamp,
            "request-source": "qianfan_py_sdk_v0.4.12.3",
        }
        order = ["request-source", "host", "x-bce-date", "content-type"]  # a set's order
        auth = signature.Authorization(self.ak, stamp, 300, tuple(order), "")
        canonical = signature.canonical_request(
            "POST", "/v2/finetuning", [("Action", action)], headers, order
        )
        signed = signature.sign(sk or self.sk, auth, canonical)
        headers["authorization"] = f"bce-auth-v1/{self.ak}/{stamp}/300/{';'.join(order)}/{signed}"
        return self.client.post(
            f"/v2/finetuning?Action={action}", content=json.dumps(body), headers=headers
        )

    def exchange(self, name: str, action: str, body: dict[str, Any], **kwargs: Any) -> Any:
        response = self.post(action, body, **kwargs)
        assert response.json()["requestId"] == response.headers["x-bce-request-id"]
        return golden.exchange(
            f"qianfan/{name}", "POST", f"/v2/finetuning?Action={action}", body, response, self.ids
        )


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_support_models_lists_the_chat_models_with_their_hyperparameters(api: Api) -> None:
    body = api.exchange("support-models", "DescribeFineTuningSupportModels", {})
    models = {m["model"]: m for m in body["result"]}
    assert "tiny-chat" in models and "minilm-l6" not in models  # a classifier has no SFT
    modes = {m["trainMode"]: m for m in models["tiny-chat"]["supportTrainMode"]}
    assert set(modes) == {"SFT", "PostPretrain", "DPO"}
    post = modes["PostPretrain"]["supportParameterScale"]
    assert [s["parameterScale"] for s in post] == ["FullFineTuning"]
    scales = {s["parameterScale"]: s for s in modes["SFT"]["supportParameterScale"]}
    assert set(scales) == {"FullFineTuning", "LoRA"}
    for scale in scales.values():
        for item in scale["supportHyperParameterConfig"]:
            assert {
                "key",
                "type",
                "checkType",
                "checkValue",
                "default",
                "name",
                "description",
            } <= set(item)
    assert "loraRank" in {i["key"] for i in scales["LoRA"]["supportHyperParameterConfig"]}


@pytest.mark.parametrize(
    ("name", "kwargs", "status", "code"),
    [
        ("wrong-sk", {"sk": "0" * 32}, 400, "SignatureDoesNotMatch"),
        ("expired", {"age_s": 600}, 400, "RequestExpired"),
    ],
)
def test_bad_signatures_are_refused(
    api: Api, name: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    response = api.post("DescribeFineTuningSupportModels", {}, **kwargs)
    assert (response.status_code, response.json()["code"]) == (status, code)
    api.exchange(name, "DescribeFineTuningSupportModels", {}, **kwargs)


def test_unsigned_unknown_key_and_unknown_action(api: Api) -> None:
    unsigned = api.client.post("/v2/finetuning?Action=DescribeFineTuningJobs", json={})
    assert (unsigned.status_code, unsigned.json()["code"]) == (400, "InvalidHTTPAuthHeader")
    api.ak = "f" * 32
    unknown = api.post("DescribeFineTuningSupportModels", {})
    assert (unknown.status_code, unknown.json()["code"]) == (403, "InvalidAccessKeyId")


def test_job_task_detail_until_done_with_metrics_checkpoints_and_curves(api: Api) -> None:
    created = api.exchange(
        "create-job",
        "CreateFineTuningJob",
        {"name": "arith", "description": "sums", "model": "tiny-chat", "trainMode": "SFT"},
    )
    job_id = created["result"]["jobId"]
    assert ids.GROUP_ID_PATTERN.match(job_id) and job_id.startswith("job-")
    api.name(job_id, "job-id")
    file_id = api.upload()
    body = {
        "jobId": job_id,
        "parameterScale": "LoRA",
        "hyperParameterConfig": {"epoch": "2", "learningRate": 0.0003, "loraRank": 16},
        "datasetConfig": {
            "sourceType": "Platform",
            "versions": [{"versionId": file_id}],
            "splitRatio": 10,
        },
        "ak": "stray SDK kwargs are ignored",
    }
    task = api.exchange("create-task", "CreateFineTuningTask", body)["result"]
    assert task["jobId"] == job_id and qianfan_create.ID_STYLE.pattern.match(task["taskId"])
    task_id = api.name(task["taskId"], "task-id") and task["taskId"]
    waiting = api.exchange("task-waiting", "DescribeFineTuningTask", {"taskId": task_id})
    assert waiting["result"]["runStatus"] == "Waiting" and "runProgress" not in waiting["result"]
    assert waiting["result"]["finishTime"] == "0000-00-00T00:00:00Z"
    job = api.world.service.jobs.get("qf", task_id)
    hp = job.hyperparameters
    assert (hp.n_epochs, hp.learning_rate, hp.lora_rank, hp.validation_split) == (
        2, 0.0003, 16, 0.1,
    )  # fmt: skip
    assert (hp.max_seq_len, hp.lr_scheduler, hp.save_total_limit) == (4096, "cosine", 3)
    api.clock.advance(60)
    api.world.wait_status(task_id, JobStatus.SUCCEEDED)
    done = api.exchange("task-done", "DescribeFineTuningTask", {"taskId": task_id})["result"]
    assert done["runStatus"] == "Done" and "runProgress" not in done
    assert done["metrics"] == {
        "BLEU-4": "16.56%", "ROUGE-1": "27.84%", "ROUGE-2": "11.96%", "ROUGE-L": "26.02%",
    }  # fmt: skip
    assert done["checkpointList"] == [
        {"step": 2, "perplexity": 4.4817, "trainingLoss": 1.25},
        {"step": 4, "perplexity": 2.7183, "trainingLoss": 0.75},
    ]
    assert (done["errorCode"], done["errorMessage"]) == (0, "")
    assert done["createTime"] == done["createDate"] and done["finishTime"] != "0000-00-00T00:00:00Z"
    page = api.client.get(done["vdlLink"].removeprefix("http://testserver"))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="chart-loss"' in page.text and 'id="read-only-badge"' in page.text
    assert page.text.count('class="checkpoint-row"') == 3  # steps 2 and 4, and the final model
    forged = api.client.get("/console/curves?displayToken=not-a-token")
    assert forged.status_code == 404 and "not valid" in forged.text


def test_a_running_task_shows_its_progress_and_stops(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(hold=True))
    job_id = api.create_job()
    task_id = api.create_task(job_id)
    api.world.wait_for(task_id, lambda j: j.progress.step == 4)
    running = api.detail(task_id)
    assert (running["runStatus"], running["runProgress"]) == ("Running", "100%")
    assert int(running["runProgress"][:-1]) == 100  # as the SDK's trainer reads it
    stopped = api.exchange("stop-task", "StopFineTuningTask", {"taskId": task_id})
    assert stopped["result"] is True
    api.world.wait_status(task_id, JobStatus.CANCELLED)
    assert api.detail(task_id)["runStatus"] == "Stopped"
    again = api.exchange("stop-task-again", "StopFineTuningTask", {"taskId": task_id})
    assert again["result"] is False  # nothing left to stop


def test_jobs_and_tasks_page_with_markers(api: Api) -> None:
    first, second, third = (api.create_job(f"job {i}") for i in range(3))
    api.create_job("dpo", mode="DPO")
    page = api.exchange("list-jobs", "DescribeFineTuningJobs", {"trainModel": "SFT", "maxKeys": 2})[
        "result"
    ]
    assert [j["jobId"] for j in page["jobList"]] == [third, second]
    assert page["pageInfo"] == {
        "marker": "", "maxKeys": 2, "isTruncated": True, "nextMarker": second,
    }  # fmt: skip
    rest = api.ok("DescribeFineTuningJobs", {"trainMode": "SFT", "marker": second, "maxKeys": 2})
    assert [j["jobId"] for j in rest["jobList"]] == [first]
    assert (rest["pageInfo"]["isTruncated"], rest["pageInfo"]["nextMarker"]) == (False, first)
    oldest = api.ok("DescribeFineTuningJobs", {"pageReverse": True, "maxKeys": 1})
    assert [j["jobId"] for j in oldest["jobList"]] == [first]
    assert api.ok("DescribeFineTuningJobs", {"trainMode": "KTO"})["jobList"] == []
    assert api.ok("DescribeFineTuningJobs", {"model": "other"})["jobList"] == []
    file_id = api.upload()
    tasks = [api.create_task(first, file_id=file_id) for _ in range(3)]
    listed = api.exchange("list-tasks", "DescribeFineTuningTasks", {"jobId": first, "maxKeys": 2})[
        "result"
    ]
    assert [t["taskId"] for t in listed["taskList"]] == [tasks[2], tasks[1]]
    assert listed["pageInfo"]["isTruncated"] is True
    more = api.ok(
        "DescribeFineTuningTasks",
        {"jobId": first, "marker": listed["pageInfo"]["nextMarker"], "maxKeys": 2},
    )
    assert [t["taskId"] for t in more["taskList"]] == [tasks[0]]
    assert api.ok("DescribeFineTuningTasks", {"jobId": second})["taskList"] == []


def test_delete_task_and_job(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(hold=True))
    job_id = api.create_job()
    kept, dropped = api.create_task(job_id), api.create_task(job_id)
    assert api.exchange("delete-task", "DeleteFineTuningTask", {"taskId": dropped})["result"]
    gone = api.exchange("task-not-found", "DescribeFineTuningTask", {"taskId": dropped})
    assert gone["code"] == "ResourceNotFound"
    api.world.wait_for(kept, lambda j: j.status is JobStatus.RUNNING)
    assert api.exchange("delete-job", "DeleteFineTuningJob", {"jobId": job_id})["result"]
    assert api.post("DescribeFineTuningTask", {"taskId": kept}).status_code == 404
    job = api.world.ports.jobs.get(kept)
    assert job is not None and job.deleted and job.status is JobStatus.CANCELLING  # stopped
    missing = api.exchange("job-not-found", "DeleteFineTuningJob", {"jobId": job_id})
    assert (missing["code"], missing["message"]) == ("ResourceNotFound", f"job {job_id} not found")


def test_continuing_from_an_earlier_tasks_checkpoint(api: Api) -> None:
    job_id = api.create_job()
    first = api.create_task(job_id)
    api.world.wait_status(first, JobStatus.SUCCEEDED)
    second = api.create_task(job_id, incrementTaskId=first, incrementCheckpointStep=2)
    job = api.world.service.jobs.get("qf", second)
    assert job.parent is not None and (job.parent.job_id, job.parent.step) == (first, 2)
    refused = api.post(
        "CreateFineTuningTask",
        {"jobId": job_id, "parameterScale": "LoRA", "incrementTaskId": first,
         "incrementCheckpointStep": 3, "datasetConfig": {"versions": [{"versionId":
         api.upload()}], "splitRatio": 0}},
    )  # fmt: skip
    assert refused.status_code == 404 and "has no checkpoint at step 3" in refused.json()["message"]


def test_bos_datasets_and_failed_tasks(api: Api) -> None:
    api.world.make_bucket("corpus", {"sft/train.jsonl": SFT}, workspace="qf")
    job_id = api.create_job()
    bos = {"sourceType": "Bos", "versions": [{"storagePath": "bos://corpus/sft/train.jsonl"}],
           "splitRatio": 5}  # fmt: skip
    from_bos = api.create_task(job_id, datasetConfig=bos)
    assert api.world.wait_status(from_bos, JobStatus.SUCCEEDED).training_file_id
    missing = {**bos, "versions": [{"storagePath": "bos:/corpus/sft/none.jsonl"}]}
    failed = api.create_task(job_id, datasetConfig=missing)
    detail = api.exchange("task-failed", "DescribeFineTuningTask", {"taskId": failed})["result"]
    assert (detail["runStatus"], detail["errorCode"]) == ("Failed", 1005)
    assert "corpus/sft/none.jsonl" in detail["errorMessage"]
    dpo = api.create_job("prefs", mode="DPO")
    wrong = api.create_task(dpo)  # SFT conversations for a DPO job
    failed_format = api.world.wait_status(wrong, JobStatus.FAILED)
    assert failed_format.error_code == "file.format"
    shown = api.detail(wrong)
    assert shown["errorCode"] == 1004 and shown["errorMessage"].startswith("file.format: ")


def test_bos_reads_only_buckets_of_the_callers_workspace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.world.make_bucket("corpus", {"sft/train.jsonl": SFT}, workspace="qf")
    api.world.make_bucket("theirs", {"sft/train.jsonl": SFT}, workspace="other")
    target = (api.root / "object-storage" / "theirs" / "sft" / "train.jsonl").resolve()
    stray = api.root / "object-storage" / "stray" / "train.jsonl"  # a folder, never created
    stray.parent.mkdir(parents=True)
    stray.write_bytes(SFT)
    opened = record_opens(monkeypatch)
    job_id = api.create_job()
    for location in ["bos://theirs/sft/train.jsonl", "bos:/stray/train.jsonl"]:
        bos = {"sourceType": "Bos", "versions": [{"storagePath": location}], "splitRatio": 5}
        detail = api.detail(api.create_task(job_id, datasetConfig=bos))
        assert (detail["runStatus"], detail["errorCode"]) == ("Failed", 1005)
        assert location.split("/", 3)[-1] in detail["errorMessage"]
    assert target not in opened and stray.resolve() not in opened
    own = {"sourceType": "Bos", "versions": [{"storagePath": "bos://corpus/sft/train.jsonl"}],
           "splitRatio": 5}  # fmt: skip
    assert api.world.wait_status(api.create_task(job_id, datasetConfig=own), JobStatus.SUCCEEDED)


@pytest.mark.parametrize(
    "location",
    ["bos://corpus/a\x00b.jsonl", "bos://corpus/" + "x" * 5000, "bos://corpus/\x07.jsonl"],
)
def test_bos_paths_no_store_can_hold_are_400(api: Api, location: str) -> None:
    api.world.make_bucket("corpus", {}, workspace="qf")
    job_id = api.create_job()
    body = {
        "jobId": job_id,
        "parameterScale": "LoRA",
        "datasetConfig": {"sourceType": "Bos", "versions": [{"storagePath": location}],
                          "splitRatio": 5},
    }  # fmt: skip
    response = api.post("CreateFineTuningTask", body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"requestId", "code", "message"}


@pytest.mark.parametrize(
    ("name", "action", "body", "status", "code", "words"),
    [
        ("job-name-too-long", "CreateFineTuningJob",
         {"name": "x" * 21, "model": "tiny-chat", "trainMode": "SFT"}, 400, "InappropriateJSON",
         "2-20"),
        ("job-kto", "CreateFineTuningJob",
         {"name": "kto", "model": "tiny-chat", "trainMode": "KTO"}, 400, "InappropriateJSON",
         "KTO is not supported"),
        ("job-unknown-model", "CreateFineTuningJob",
         {"name": "nm", "model": "ERNIE-Speed-8K", "trainMode": "SFT"}, 400, "InappropriateJSON",
         "model ERNIE-Speed-8K not found"),
        ("job-missing-fields", "CreateFineTuningJob", {}, 400, "InappropriateJSON", "name"),
        ("task-unknown-job", "CreateFineTuningTask",
         {"jobId": "job-000000000000", "parameterScale": "LoRA",
          "datasetConfig": {"versions": [{"versionId": "file-x"}], "splitRatio": 10}},
         404, "ResourceNotFound", "job job-000000000000 not found"),
        ("task-list-unknown-job", "DescribeFineTuningTasks", {"jobId": "job-000000000000"},
         404, "ResourceNotFound", "not found"),
        ("task-bad-max-keys", "DescribeFineTuningJobs", {"maxKeys": 101}, 400,
         "InappropriateJSON", "maxKeys"),
        ("task-unknown-marker", "DescribeFineTuningJobs", {"marker": "job-000000000000"}, 400,
         "InappropriateJSON", "marker"),
        ("task-detail-missing-id", "DescribeFineTuningTask", {}, 400, "InappropriateJSON",
         "taskId"),
    ],
)  # fmt: skip
def test_request_errors(
    api: Api, name: str, action: str, body: dict[str, Any], status: int, code: str, words: str
) -> None:
    answer = api.exchange(name, action, body)
    response = api.post(action, body)
    assert (response.status_code, answer["code"]) == (status, code)
    assert words in answer["message"]


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("scale", {"parameterScale": "PromptTuning"}, "PromptTuning is not supported"),
        ("no-scale", {"parameterScale": None}, "parameterScale must be"),
        ("range", {"hyperParameterConfig": {"learningRate": 2}}, "learningRate 2 is outside"),
        ("choice", {"hyperParameterConfig": {"loraRank": 5}}, "loraRank 5 is outside one of"),
        ("unknown-key", {"hyperParameterConfig": {"epochs": 2}}, "epochs: Extra inputs"),
        ("lora-on-full", {"parameterScale": "FullFineTuning",
                          "hyperParameterConfig": {"loraRank": 8}}, "LoRA only"),
        ("split", {"datasetConfig": {"versions": [{"versionId": "f"}]}}, "splitRatio must be"),
        ("two-files", {"datasetConfig": {"versions": [{"versionId": "a"}, {"versionId": "b"}],
                                         "splitRatio": 1}}, "one dataset"),
        ("sampling", {"datasetConfig": {"versions": [{"versionId": "a", "samplingRate": 2}],
                                        "splitRatio": 1}}, "samplingRate"),
        ("bos-dir", {"datasetConfig": {"sourceType": "Bos", "splitRatio": 1,
                                       "versions": [{"storagePath": "bos://b/dir/"}]}},
         "must name one object"),
        ("unknown-file", {"datasetConfig": {"versions": [{"versionId": "file-nope"}],
                                            "splitRatio": 1}}, "file file-nope not found"),
        ("corpus", {"corpusConfig": {"copyData": True}}, "corpus"),
        ("packing-off", {"hyperParameterConfig": {"Packing": "false"}}, "always packs"),
    ],
)  # fmt: skip
def test_create_task_errors(api: Api, name: str, change: dict[str, Any], words: str) -> None:
    job_id = api.create_job()
    body: dict[str, Any] = {
        "jobId": job_id,
        "parameterScale": "LoRA",
        "hyperParameterConfig": {},
        "datasetConfig": {"versions": [{"versionId": api.upload()}], "splitRatio": 10},
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = api.post("CreateFineTuningTask", body)
    assert response.status_code in (400, 404), response.text
    assert words in response.json()["message"], response.json()


def test_post_pretrain_and_dpo_jobs_train_their_objectives(api: Api) -> None:
    documents = b"".join(
        b'{"text": "Document %d: two plus %d is %d."}\n' % (i, i % 10, 2 + i % 10)
        for i in range(120)
    )
    post = api.create_job("docs", mode="PostPretrain")
    text_file = api.upload(documents, "docs.jsonl")
    lora = api.post(
        "CreateFineTuningTask",
        {"jobId": post, "parameterScale": "LoRA",
         "datasetConfig": {"versions": [{"versionId": text_file}], "splitRatio": 5}},
    )  # fmt: skip
    assert lora.status_code == 400 and "FullFineTuning" in lora.json()["message"]
    cpt = api.create_task(
        post, file_id=text_file, parameterScale="FullFineTuning", hyperParameterConfig={}
    )
    job = api.world.wait_status(cpt, JobStatus.SUCCEEDED)
    assert (job.objective.value, job.method.value) == ("cpt", "full")
    assert job.hyperparameters.learning_rate == 3e-5  # the full-scale default
    pairs = b"".join(
        b'[{"user": "What is %d plus 1?", "chosen": "%d.", "rejected": "No idea."}]\n' % (i, i + 1)
        for i in range(120)
    )
    dpo = api.create_job("prefs", mode="DPO")
    beta = {"hyperParameterConfig": {"dpoBeta": 0.2}}
    task = api.create_task(dpo, file_id=api.upload(pairs, "pairs.jsonl"), **beta)
    job = api.world.wait_status(task, JobStatus.SUCCEEDED)
    assert (job.objective.value, job.hyperparameters.dpo_beta) == ("dpo", 0.2)
    assert api.detail(task)["trainMode"] == "DPO"
    listed = api.ok("DescribeFineTuningJobs", {"trainMode": "PostPretrain"})["jobList"]
    assert [j["jobId"] for j in listed] == [post]
