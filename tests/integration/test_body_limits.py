"""1 GB bodies thrown at a real server: it stops reading early, answers 413 (or 401 when a
keyless body was never read), and its RSS stays within 50 MB of idle.

Bodies are generated as they are sent (raw sockets, 1 MiB at a time, chunked or with a
declared Content-Length) and sending stops as soon as the server answers or closes.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.server import Server, cli

pytestmark = pytest.mark.integration

GB = 1_000_000_000
MiB = 1 << 20
MB = 1_000_000
DATASET_LIMIT = 10 * MB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limits-data")
    running = Server(data_dir, "--max-dataset-bytes", str(DATASET_LIMIT))
    yield running
    assert running.interrupt() == 0, running.output()


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    return cli("keys", "create", "--workspace", "big", data_dir=server.data_dir).strip()


class PeakRss:
    """Samples a process's resident memory every 5 ms while in use; the peak seen."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


class Thrown:
    """What came of throwing a body: the status answered (None: closed unanswered), how
    many bytes were sent before the server stopped taking them, and how long it took."""

    def __init__(self, status: int | None, sent: int, seconds: float, answer: bytes) -> None:
        self.status, self.sent, self.seconds, self.answer = status, sent, seconds, answer


def throw(
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    prefix: bytes = b"",
    total: int = GB,
    chunked: bool,
) -> Thrown:
    """POST `total` bytes of body to `path` (`prefix`, then filler generated 1 MiB at a
    time); stop sending once the server answers or stops reading, then read its answer."""
    started = time.monotonic()
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    block = b"x" * MiB
    frame = f"{MiB:x}\r\n".encode() + block + b"\r\n" if chunked else block
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.sendall(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n" if chunked else prefix)
        sent = len(prefix)
        sock.setblocking(False)
        pending = memoryview(frame)
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the server has answered (or closed): stop sending
            assert writable, "the server neither reads the body nor answers"
            try:
                count = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += count
            pending = pending[count:] or memoryview(frame)
        answer = _read_answer(sock)
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    status = int(match.group(1)) if match else None
    return Thrown(status, sent, time.monotonic() - started, answer)


def _read_answer(sock: socket.socket) -> bytes:
    sock.setblocking(True)
    sock.settimeout(10)
    answer = b""
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


CASES = {
    # name: (path, needs key, expected statuses, most bytes the server may take)
    "json, no key": ("/tuneyard/v1/jobs/x/export", False, {413, 401}, 16 * MiB),
    "json, key": ("/api/v1/fine-tunes", True, {413}, 16 * MiB),
    "upload, no key": ("/api/v1/files", False, {413, 401}, 16 * MiB),
    "upload, key": ("/api/v1/files", True, {413}, DATASET_LIMIT + 16 * MiB),
}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_1gb_body_is_refused_early_and_rss_stays_flat(
    server: Server, key: str, case: str, chunked: bool
) -> None:
    path, keyed, expected, most = CASES[case]
    headers, prefix = {"Content-Type": "application/json"}, b'{"pad": "'
    if path == "/api/v1/files":
        headers["Content-Type"] = "multipart/form-data; boundary=B"
        prefix = b'--B\r\nContent-Disposition: form-data; name="files"; filename="a.jsonl"\r\n\r\n'
    if keyed:
        headers["Authorization"] = f"Bearer {key}"
    assert server.client.get("/healthz").status_code == 200  # warm
    idle = psutil.Process(server.process.pid).memory_info().rss
    with PeakRss(server.process.pid) as rss:
        thrown = throw(server.port, path, headers, prefix=prefix, chunked=chunked)
    mode = "chunked" if chunked else "content-length"
    print(
        f"\n[{case}, {mode}] status {thrown.status}, server took {thrown.sent / MiB:.1f} MiB "
        f"of 1 GB in {thrown.seconds:.2f} s; RSS idle {idle / MB:.1f} MB, "
        f"peak {rss.peak / MB:.1f} MB (+{(rss.peak - idle) / MB:.1f} MB)"
    )
    assert thrown.status in expected, thrown.answer[:300]
    assert thrown.sent <= most
    assert rss.peak < idle + 50 * MB
    if thrown.status == 413 and path == "/api/v1/files":
        assert b"file.size: Exceeded the disk usage limit" in thrown.answer
    assert server.client.get("/healthz").status_code == 200  # and it still serves


def test_the_limits_are_served_flags(tmp_path: Path) -> None:
    small = Server(tmp_path / "small", "--max-json-bytes", "2048", "--max-upload-files", "1")
    try:
        key = cli("keys", "create", data_dir=small.data_dir).strip()
        body = {"model": "tiny-chat", "training_file_ids": ["file-1"], "pad": "x" * 3000}
        headers = {"Authorization": f"Bearer {key}"}
        refused = small.client.post("/api/v1/fine-tunes", headers=headers, json=body)
        assert refused.status_code == 413 and refused.json()["code"] == "RequestTooLarge"
        two = [("files", ("a.jsonl", b"{}\n")), ("files", ("b.jsonl", b"{}\n"))]
        too_many = small.client.post("/api/v1/files", headers=headers, files=two)
        assert too_many.status_code == 400 and "Maximum number of files is 1" in too_many.text
    finally:
        assert small.interrupt() == 0, small.output()
