"""The worker's lifeline: it gives up as soon as it is no longer its server's child."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from tuneyard.trainer import lifeline


def _parents(*pids: int) -> Iterator[int]:
    yield from pids
    while True:
        yield pids[-1]


def test_the_server_dying_is_noticed() -> None:
    parents = _parents(40, 40, 40, 1)  # re-parented to init on the fourth look
    lost: list[int] = []
    done = threading.Event()

    def on_lost(pid: int) -> None:
        lost.append(pid)
        done.set()

    lifeline.watch(40, interval=0.01, getppid=lambda: next(parents), on_lost=on_lost)
    assert done.wait(5)
    assert lost == [40]


def test_a_server_dead_before_the_watch_began_is_noticed_at_once() -> None:
    lost: list[int] = []
    thread = lifeline.watch(40, interval=60, getppid=lambda: 1, on_lost=lost.append)
    thread.join(5)
    assert not thread.is_alive() and lost == [40]


def test_a_live_server_is_left_alone() -> None:
    looks = 0
    server_alive = True

    def getppid() -> int:
        nonlocal looks
        looks += 1
        return 40 if server_alive else 1

    lost: list[int] = []
    thread = lifeline.watch(40, interval=0.01, getppid=getppid, on_lost=lost.append)
    thread.join(0.2)
    assert thread.is_alive() and thread.daemon
    assert looks > 3 and lost == []
    server_alive = False  # let the thread finish
    thread.join(5)
    assert lost == [40]
