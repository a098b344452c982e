"""A small HTTP/1.1 load generator: N keep-alive connections, each sending one GET after
another for a fixed time, over raw asyncio sockets (no HTTP library in the loop, so it
costs far less per request than the server it measures).

    from bench import loadgen
    result = loadgen.run("127.0.0.1", 8000, "/path", headers={...}, connections=100,
                         seconds=10, processes=2)

With `processes` > 1 the connections are spread over that many worker processes (each its
own event loop), so the generator is not capped by one core; their latencies are merged.
Only `200` answers count as requests done; anything else is counted in `errors`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import multiprocessing.connection
import statistics
import time
from collections.abc import Mapping

__all__ = ["Result", "run"]


@dataclasses.dataclass(frozen=True)
class Result:
    """What one load run measured."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self, name: str) -> str:
        """One printable line: name, req/s, p50, p99."""
        extra = f"  ({self.errors} errors)" if self.errors else ""
        return (
            f"{name:<44} {self.rps:>8.0f} req/s  p50 {self.p50_ms:6.1f} ms"
            f"  p99 {self.p99_ms:6.1f} ms{extra}"
        )


def _request(host: str, port: int, path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _connection(
    host: str, port: int, request: bytes, until: float, latencies: list[float]
) -> int:
    """One keep-alive connection sending requests back to back until `until`; its errors."""
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    clock = time.perf_counter
    try:
        while True:
            start = clock()
            if start >= until:
                break
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length:
                await reader.readexactly(length)
            if status == b"200":
                latencies.append(clock() - start)
            else:
                errors += 1
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()
    return errors


async def _drive(
    host: str, port: int, request: bytes, connections: int, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    start = time.perf_counter()
    until = start + seconds
    counts = await asyncio.gather(
        *(_connection(host, port, request, until, latencies) for _ in range(connections))
    )
    return latencies, sum(counts), time.perf_counter() - start


def _worker(
    host: str,
    port: int,
    request: bytes,
    connections: int,
    seconds: float,
    pipe: multiprocessing.connection.Connection,
) -> None:
    pipe.send("ready")
    pipe.recv()  # every worker starts together, once all are imported
    pipe.send(asyncio.run(_drive(host, port, request, connections, seconds)))
    pipe.close()


def run(
    host: str,
    port: int,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    connections: int = 100,
    seconds: float = 10.0,
    processes: int = 1,
) -> Result:
    """Drive `GET path` over `connections` keep-alive connections for `seconds`."""
    request = _request(host, port, path, headers or {})
    if processes <= 1:
        latencies, errors, took = asyncio.run(_drive(host, port, request, connections, seconds))
    else:
        context = multiprocessing.get_context("spawn")
        pipes, procs = [], []
        for i in range(processes):
            share = connections // processes + (1 if i < connections % processes else 0)
            ours, theirs = context.Pipe()
            proc = context.Process(
                target=_worker, args=(host, port, request, share, seconds, theirs)
            )
            proc.start()
            pipes.append(ours)
            procs.append(proc)
        for pipe in pipes:
            pipe.recv()
        for pipe in pipes:
            pipe.send("go")
        latencies, errors, took = [], 0, 0.0
        for pipe in pipes:
            part, part_errors, part_took = pipe.recv()
            latencies += part
            errors += part_errors
            took = max(took, part_took)
        for proc in procs:
            proc.join()
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) if ordered else 0.0
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    return Result(len(ordered), errors, took, p50 * 1000, p99 * 1000)
