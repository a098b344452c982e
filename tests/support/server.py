"""A real `tuneyard serve` subprocess on 127.0.0.1, as a user starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def poll(read: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float = 300) -> Any:
    """Call `read` every 0.3 s until `done(value)`; the value (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting; last seen {value}")
        time.sleep(0.3)


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, data_dir: Path) -> str:
    """Run `tuneyard …` and return its stdout (fails the test on a non-zero exit)."""
    result = subprocess.run(
        [sys.executable, "-m", "tuneyard", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Server:
    """One server process plus an authenticated HTTP client."""

    def __init__(self, data_dir: Path, *extra: str, relative: bool = False) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("wb")
        # relative=True starts it as `make run` does: a data dir relative to the cwd.
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tuneyard",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                data_dir.name if relative else str(data_dir),
                *extra,
            ],
            cwd=data_dir.parent if relative else None,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        self.client = httpx.Client(base_url=self.base, timeout=30)
        try:
            self._wait_ready()
        except BaseException:  # no process, client or open log left behind
            self.kill()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready:\n{self.output()}")

    def output(self) -> str:
        """What the server printed."""
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def interrupt(self, timeout: float = 60, sig: int = signal.SIGINT) -> int:
        """Ctrl-C (or another signal), as a user stops it; the exit status."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.client.close()
            self.log.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer stops it: no cleanup of any kind."""
        self.process.kill()
        try:
            self.process.wait(30)
        finally:
            self.client.close()
            self.log.close()

    def close(self) -> None:
        """Stop the server if the test did not."""
        if self.process.poll() is None:
            self.interrupt()

    def poll_task(
        self, key: str, task_id: str, until: set[str], *, timeout: float = 240
    ) -> list[dict[str, Any]]:
        """GET the task until its status is in `until`; every result seen, in order."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.client.get(
                f"/tuning/v2/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 200, response.text
            seen.append(response.json()["result"])
            if seen[-1]["status"] in until:
                return seen
            time.sleep(0.2)
        raise AssertionError(f"task {task_id} stuck at {seen[-1]}\n{self.output()}")
