"""The estimate against real runs: predicted vs measured peak memory and wall time.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/estimate.py [--only NAME ...] [--json]

Builds varied datasets (short and long chats, preference pairs, labelled reviews) and runs
each job below for real, one at a time, as a worker runs it (a fresh process, the worker's
allocator settings, the real recipe over the real file): tiny-chat (3.3M parameters) and
`small` (27M, `tuneyard.basemodels.small`), minilm-l6 for classification; LoRA and full;
SFT, DPO and classification; short and long sequences; batch 4 to 32. Each job's estimate
comes from `tuneyard estimate`'s code path (the dataset's tokens counted as validation
counts them, this machine's cached calibration). Measured: the worker's peak RSS (its
ru_maxrss), its wall time from spawn to exit (the whole job) and the time of its optimizer
steps (the training loop without the checkpoints' validation and saves). Prints one line
per job and last `worst: time N% memory M%` (the worst of the loop and whole-job errors).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tuneyard.scheduler.executors import local

WORDS = [
    *("river", "stone", "cloud", "apple", "seven", "orange", "window", "garden", "yellow"),
    *("silver", "tiger", "paper", "music", "winter", "summer", "bridge", "forest", "candle"),
    *("mirror", "rocket", "planet", "violet", "copper", "marble"),
]


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    model: str
    method: str
    objective: str  # sft | dpo | classification
    data: str  # short | long | pairs | reviews
    rows: int
    batch: int
    max_seq_len: int
    epochs: int = 1


CASES = [
    Case("tiny-lora-sft-short", "tiny-chat", "lora", "sft", "short", 400, 8, 256),
    Case("tiny-full-sft-short", "tiny-chat", "full", "sft", "short", 600, 32, 256),
    Case("tiny-lora-sft-long", "tiny-chat", "lora", "sft", "long", 120, 4, 1024),
    Case("tiny-lora-dpo", "tiny-chat", "lora", "dpo", "pairs", 240, 8, 256),
    Case("tiny-full-dpo", "tiny-chat", "full", "dpo", "pairs", 160, 4, 256),
    Case("minilm-lora-cls", "minilm-l6", "lora", "classification", "reviews", 640, 32, 64),
    Case("minilm-full-cls", "minilm-l6", "full", "classification", "reviews", 320, 16, 64),
    Case("small-lora-sft", "small", "lora", "sft", "short", 200, 8, 512),
    Case("small-full-sft-long", "small", "full", "sft", "long", 40, 4, 1024),
]


def _words(rng: random.Random, mu: float, most: int) -> str:
    n = max(2, min(most, int(rng.lognormvariate(mu, 0.6))))
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_data(kind: str, rows: int, path: Path, seed: int = 7) -> Path:
    """A dataset file of `rows` examples of one kind (OpenAI chat / preference format)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            if kind in ("short", "long"):
                mu, most = (2.4, 40) if kind == "short" else (4.2, 160)
                record: dict[str, Any] = {
                    "messages": [
                        {"role": "user", "content": "Reverse: " + _words(rng, mu, most)},
                        {"role": "assistant", "content": _words(rng, mu, most)},
                    ]
                }
            elif kind == "pairs":
                record = {
                    "input": {"messages": [{"role": "user", "content": _words(rng, 2.4, 40)}]},
                    "preferred_output": [{"role": "assistant", "content": _words(rng, 2.2, 30)}],
                    "non_preferred_output": [
                        {"role": "assistant", "content": _words(rng, 2.2, 30)}
                    ],
                }
            else:
                good = i % 2 == 0
                text = f"I {'loved' if good else 'hated'} item {i}: " + _words(rng, 2.0, 20)
                record = {
                    "messages": [
                        {"role": "user", "content": text},
                        {"role": "assistant", "content": "positive" if good else "negative"},
                    ]
                }
            out.write(json.dumps(record) + "\n")
    return path


def run_worker(spec_path: Path) -> None:
    """In the job's process: the worker's run, timing its optimizer steps apart from the
    checkpoints (validation + save) taken inside the loop; prints the times as JSON."""
    import io

    from tuneyard.core import jobs
    from tuneyard.core.dtype import SETTING_ENV
    from tuneyard.trainer import lifeline, recipe, report

    lifeline.quiet_libraries()
    spec = jobs.TrainingSpec.from_dict(json.loads(spec_path.read_text("utf-8")))
    saving = [0.0]
    original = recipe.save_checkpoint

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            saving[0] += time.perf_counter() - start

    recipe.save_checkpoint = timed  # type: ignore[assignment]
    reporter = report.Reporter(io.StringIO())
    setting = os.environ.get(SETTING_ENV, "auto")  # as the worker reads it
    state = recipe.setup(spec, reporter, lambda: False, lambda: False, precision_setting=setting)
    start = time.perf_counter()
    recipe.train(state)
    loop = time.perf_counter() - start - saving[0]
    recipe.finish(state)
    with open("/proc/self/status", encoding="ascii") as status:  # not ru_maxrss: see measure
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    print(
        json.dumps({"loop_s": loop, "saves_s": saving[0], "steps": state.step, "peak": peak}),
        flush=True,
    )
    os._exit(0)


def measure(spec_path: Path) -> dict[str, Any]:
    """Run one job in a fresh worker-like process: its times and peak RSS (its own VmHWM:
    the ru_maxrss wait4 gives would carry this process's peak across the exec)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.update(local.ALLOCATOR_ENV)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", str(spec_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    status = process.wait()
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{spec_path}: the job failed ({status})")
    times = json.loads(output.strip().splitlines()[-1])
    return {**times, "job_s": wall, "peak_bytes": times["peak"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="run only these cases")
    parser.add_argument("--json", action="store_true", help="also print each row as JSON")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help="keep models and calibration here")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="run no job: compare today's estimates with the last run's measurements",
    )
    args = parser.parse_args()
    if args.worker is not None:
        run_worker(args.worker)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from tuneyard import calibration, runtime
    from tuneyard.basemodels import small, tinychat
    from tuneyard.core import checks, estimate, jobs
    from tuneyard.kinds import Method, Objective, TaskType
    from tuneyard.settings import Settings

    data_dir = args.data_dir or Path(tempfile.gettempdir()) / "tuneyard-bench-estimate"
    data_dir.mkdir(parents=True, exist_ok=True)
    root = data_dir / "runs"
    results = data_dir / "measured.json"
    small_dir = small.ensure_built(data_dir / "models" / small.NAME)
    (data_dir / "models.toml").write_text(f'[models.small]\npath = "{small_dir}"\n')
    tinychat.ensure_built(data_dir / "models" / "tiny-chat")
    service = runtime.build(Settings.load({"data_dir": data_dir}, env={})).service
    calibrated = service.estimates.sizing.machine if service.estimates.sizing else None
    assert isinstance(calibrated, calibration.Calibration)
    machine = calibrated.get()  # (not in the background while the jobs below train)
    if machine.busy > estimate.BUSY:
        print("the cached calibration was taken on a busy machine: measuring it again first")
        machine = calibrated.measure_again()
    print(f"machine: {machine.key}; load average {os.getloadavg()[0]:.2f}", flush=True)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    saved = json.loads(results.read_text()) if results.is_file() else {}
    worst_time = worst_memory = 0.0
    for case in cases:
        if args.refit and case.name not in saved:
            continue
        root.mkdir(parents=True, exist_ok=True)
        dataset = write_data(case.data, case.rows, root / f"{case.name}.jsonl")
        model = service.models.get(case.model)
        classify = case.objective == "classification"
        task_type = TaskType.CLASSIFICATION if classify else TaskType.GENERATION
        objective = Objective.SFT if classify else Objective(case.objective)
        hp = jobs.Hyperparameters(
            n_epochs=case.epochs,
            batch_size=case.batch,
            max_seq_len=case.max_seq_len,
            eval_samples=8,
            learning_rate=1e-4 if case.method == "lora" else 1e-5,
        )
        spec = jobs.JobSpec(
            workspace_id="bench",
            display_name=case.name,
            base_model=model.name,
            task_type=task_type,
            method=Method(case.method),
            hyperparameters=hp,
            dialect="native",
            objective=objective,
        )
        check = checks.check_dataset(
            dataset,
            filename=dataset.name,
            fmt=None,
            task_type=task_type,
            model=model,
            counters=service.ports.counters,
            limits=dataclasses.replace(service.limits, min_rows=1),
        )
        predicted = service.estimates.of_check(check, model, spec)
        assert predicted is not None, check.to_dict()
        if args.refit:
            got = saved[case.name]
        else:
            work = root / case.name
            training = jobs.TrainingSpec(
                job_id=case.name,
                task_type=task_type,
                method=Method(case.method),
                base_model=model.ref(),
                dataset_path=str(dataset),
                dataset_filename=dataset.name,
                hyperparameters=hp,
                output_dir=str(work / "output"),
                work_dir=str(work),
                objective=objective,
            )
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            (work / "spec.json").write_text(json.dumps(training.to_dict()))
            got = saved[case.name] = measure(work / "spec.json")
            results.write_text(json.dumps(saved, indent=1))
        e_loop = predicted.train_seconds / got["loop_s"] - 1
        e_job = predicted.job_seconds / got["job_s"] - 1
        e_mem = predicted.peak_memory_bytes / got["peak_bytes"] - 1
        worst_time = max(worst_time, abs(e_loop), abs(e_job))
        worst_memory = max(worst_memory, abs(e_mem))
        print(
            f"{case.name:22} steps {predicted.steps:4d}  loop {predicted.train_seconds:6.1f}/"
            f"{got['loop_s']:6.1f} s ({e_loop:+.0%})  job {predicted.job_seconds:6.1f}/"
            f"{got['job_s']:6.1f} s ({e_job:+.0%})  "
            f"peak {predicted.peak_memory_bytes / 2**20:6.0f}/"
            f"{got['peak_bytes'] / 2**20:6.0f} MiB ({e_mem:+.0%})",
            flush=True,
        )
        if args.json:
            print(json.dumps({"case": case.name, "predicted": predicted.to_dict(), **got}))
    print(f"load average after {os.getloadavg()[0]:.2f}")
    print(f"worst: time {worst_time:.0%} memory {worst_memory:.0%}")


if __name__ == "__main__":
    main()
