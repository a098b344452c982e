"""A scripted inference worker: `tuneyard.serving.fake`'s script, played by a real process.

Run by `WorkerClient(module="tests.support.scripted_inference")` exactly as the real worker
is (`python -m … --threads N --max-loaded-adapters K --parent-pid PID`, protocol lines on
stdin and stdout), so the client's process plumbing (start, pipes, cancel, crash, idle
stop, restart) is tested without loading a model. Requests run concurrently: `!hang`
waits until cancelled, `!slow` spaces its tokens, `!crash` SIGKILLs the process. When
SCRIPTED_INFERENCE_LOG names a file, the command line and every request received
(`op id`) are appended to it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tuneyard.serving import fake, protocol

_LOG = os.environ.get("SCRIPTED_INFERENCE_LOG")


def _note(line: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _emit(event: protocol.Event) -> None:
    sys.stdout.write(protocol.encode(event) + "\n")
    sys.stdout.flush()


async def _play(request: protocol.Generate) -> None:
    kind = fake.behaviour(request)
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    for event in fake.script(request):
        if kind == "slow" and isinstance(event, protocol.Token):
            await asyncio.sleep(fake.SLOW_SECONDS)
        if kind == "hang" and not isinstance(event, protocol.Accepted):
            await asyncio.Event().wait()
        _emit(event)


async def main() -> None:
    """Answer requests until Shutdown or the end of stdin."""
    _note("start " + " ".join(sys.argv[1:]))
    sys.stderr.write("scripted inference worker started\n")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    running: dict[str, asyncio.Task[None]] = {}
    while line := await reader.readline():
        request = protocol.decode_request(line.decode())
        _note(f"{request.op} {getattr(request, 'id', '')}".strip())
        if isinstance(request, protocol.Shutdown):
            break
        if isinstance(request, protocol.Cancel):
            task = running.pop(request.id, None)
            if task is not None:
                task.cancel()
        elif isinstance(request, protocol.Classify):
            _emit(fake.labels(request))
        else:
            running[request.id] = asyncio.create_task(_play(request))
    for task in running.values():
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
