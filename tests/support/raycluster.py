"""A real local Ray cluster for tests: a head (no CPUs) and worker nodes, each its own
`ray start` process group, all under one private temp dir; stopped by killing exactly
those process groups (never `ray stop`, which would stop every Ray on the machine).

The GCS is told to health-check nodes every half second and to declare a node dead after
three missed checks, so a killed node is seen within a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from tests.support.server import free_port

HEALTH_ENV = {
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_USAGE_STATS_ENABLED": "0",
}
"""Environment of every Ray process: node death is noticed within ~2 s."""

_RAY = str(Path(sys.executable).with_name("ray"))


class RayCluster:
    """One head and `nodes` worker nodes of `cpus` CPUs each, on 127.0.0.1."""

    def __init__(self, work: Path, *, nodes: int = 2, cpus: int = 1) -> None:
        # Unix socket paths must stay short (< 108 bytes): the temp dir is not under `work`.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ty-ray-"))
        self.work = work
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_address = f"ray://127.0.0.1:{free_port()}"
        """The head's Ray Client server, for drivers outside the cluster."""
        self.groups: dict[str, int] = {}
        """Process group of each node ("head", "node-0", …): `ray start` and all it spawned."""
        self.log = work / "ray-start.log"
        try:
            self._start(
                "head",
                "--head",
                f"--port={self.port}",
                "--num-cpus=0",
                "--include-dashboard=false",
                f"--ray-client-server-port={self.client_address.rsplit(':', 1)[1]}",
            )
            for i in range(nodes):  # one at a time: raylets on one IP that register at
                self._start(  # once can miss each other's registration
                    f"node-{i}",
                    f"--address={self.address}",
                    f"--num-cpus={cpus}",
                    f"--resources={json.dumps({f'node-{i}': 1})}",
                )
        except BaseException:
            self.stop()
            raise

    def tmp(self, name: str) -> Path:
        """The node's TMPDIR: its own disk, as if it were another machine."""
        return self.work / f"{name}-tmp"

    def _start(self, name: str, *args: str) -> None:
        self.tmp(name).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **HEALTH_ENV, "TMPDIR": str(self.tmp(name))}
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                [
                    _RAY,
                    "start",
                    *args,
                    "--node-ip-address=127.0.0.1",
                    f"--temp-dir={self.temp_dir}",
                    f"--dashboard-agent-listen-port={free_port()}",
                    f"--metrics-export-port={free_port()}",
                    "--disable-usage-stats",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its daemons share this group: killpg stops the node
            )
        self.groups[name] = process.pid
        status = process.wait(120)
        assert status == 0, self.log.read_text(errors="replace")

    def node_of(self, pid: int) -> str:
        """The node ("node-0", …) whose processes include `pid` or one of its ancestors."""
        for process in [psutil.Process(pid), *psutil.Process(pid).parents()]:
            with contextlib.suppress(psutil.Error):
                group = os.getpgid(process.pid)
                for name, pgid in self.groups.items():
                    if pgid == group:
                        return name
        raise AssertionError(f"process {pid} belongs to no node of this cluster")

    def kill_node(self, name: str) -> None:
        """SIGKILL every process of one node (its raylet and its workers), as a machine
        that dies takes them all."""
        _kill_group(self.groups.pop(name))

    def stop(self) -> None:
        """Kill every process this cluster started and remove its temp dir."""
        for name in [n for n in self.groups if n != "head"] + ["head"]:
            if name in self.groups:
                _kill_group(self.groups.pop(name))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _kill_group(pgid: int) -> None:
    """SIGKILL a node's process group and every descendant of it (Ray's worker processes
    make groups of their own), then wait until they are gone."""
    doomed: dict[int, psutil.Process] = {}
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid:
                doomed[process.pid] = process
                doomed.update((c.pid, c) for c in process.children(recursive=True))
    for process in doomed.values():
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(list(doomed.values()), timeout=10)
