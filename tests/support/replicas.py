"""`tuneyard serve --role …` replicas sharing one database, as subprocesses on 127.0.0.1.

A scheduler replica runs through `tests.support.replica` (the real CLI with counted
workers); an API replica is the plain `python -m tuneyard serve --role api`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import free_port


class Replica:
    """One `serve` process, its log, and a client on its port."""

    def __init__(
        self, role: str, data_dir: Path, env: Mapping[str, str], *extra: str, name: str = ""
    ) -> None:
        self.role = role
        self.port = free_port()
        self.name = name or f"{role}-{self.port}"
        self.log_path = data_dir.parent / f"{self.name}.log"
        self.log = self.log_path.open("wb")
        module = "tuneyard" if role == "api" else "tests.support.replica"
        command = [sys.executable, "-m", module, "serve", "--role", role]
        command += ["--port", str(self.port), "--data-dir", str(data_dir), *extra]
        self.process = subprocess.Popen(
            command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        self.health: dict[str, Any] = {}

    def wait_ready(self, timeout: float = 90) -> dict[str, Any]:
        """Wait until /healthz answers; its body (a scheduler's names its owner)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.output()}")
            try:
                response = self.client.get("/healthz")
                if response.status_code == 200:
                    self.health = response.json()
                    return self.health
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready:\n{self.output()}")

    @property
    def owner(self) -> str:
        """A scheduler replica's lease owner id."""
        return str(self.health["owner"])

    def output(self) -> str:
        """What the replica printed."""
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a crash or the OOM killer."""
        self.process.kill()
        self.process.wait(30)
        self.client.close()
        self.log.close()

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (a clean stop) if it still runs; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.client.close()
        if not self.log.closed:
            self.log.close()
        return self.process.returncode
