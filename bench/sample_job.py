"""Measure the README's sample job on a fresh data dir: time, throughput, memory.

    .venv/bin/python bench/sample_job.py [--epochs 2] [--runs 2]

Starts `tuneyard serve` as a user would, makes a key with the CLI, posts
examples/clova-generation.csv and polls until SUCCEEDED, sampling the resident memory of
the server and of its worker process. Prints, per run: seconds from POST to SUCCEEDED,
training tokens/s as the worker reported it, peak RSS of the server and of the worker.
The first run on a fresh data dir includes building tiny-chat; later runs reuse it.
This is a measurement, not a ratio: there is no baseline for "the whole service".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import Server, cli  # noqa: E402


class PeakRss:
    """Samples a process tree's RSS every 50 ms; peaks for the parent and its children."""

    def __init__(self, pid: int) -> None:
        self.parent = psutil.Process(pid)
        self.server_peak = 0
        self.worker_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.server_peak = max(self.server_peak, self.parent.memory_info().rss)
                for child in self.parent.children(recursive=True):
                    self.worker_peak = max(self.worker_peak, child.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_once(server: Server, key: str, epochs: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    csv = (ROOT / "examples" / "clova-generation.csv").read_bytes()
    rss = PeakRss(server.process.pid)
    started = time.monotonic()
    response = server.client.post(
        "/tuning/v2/tasks",
        headers=headers,
        data={"model": "tiny-chat", "trainEpochs": str(epochs), "learningRate": "1e-3"},
        files={"file": ("train.csv", csv, "text/csv")},
    )
    task_id = response.json()["result"]["id"]
    final = server.poll_task(key, task_id, {"SUCCEEDED", "FAILED"}, timeout=900)[-1]
    elapsed = time.monotonic() - started
    rss.stop()
    assert final["status"] == "SUCCEEDED", final
    events = server.client.get(f"/tuneyard/v1/jobs/{task_id}/events", headers=headers).json()
    progress = [e["data"] for e in events["data"] if e["type"] == "metrics"]
    return {
        "post_to_succeeded_s": elapsed,
        "tokens_per_s": progress[-1]["tokens_per_s"],
        "trained_tokens": progress[-1]["trained_tokens"],
        "train_loss": final["statusInfo"]["trainLoss"],
        "estimated_time_s": final["statusInfo"]["estimatedTime"],
        "server_peak_rss_mib": rss.server_peak / 2**20,
        "worker_peak_rss_mib": rss.worker_peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuneyard-bench-") as tmp:
        data_dir = Path(tmp)
        key = cli("keys", "create", data_dir=data_dir).strip()
        server = Server(data_dir)
        try:
            for run in range(1, args.runs + 1):
                result = run_once(server, key, args.epochs)
                label = "fresh data dir (builds tiny-chat)" if run == 1 else "warm"
                print(
                    f"run {run} [{label}]: "
                    + ", ".join(
                        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in result.items()
                    )
                )
        finally:
            server.close()


if __name__ == "__main__":
    main()
