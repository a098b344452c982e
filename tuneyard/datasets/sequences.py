"""C_ID/T_ID bookkeeping of CLOVA datasets in a few bytes per conversation.

CLOVA conversations must be numbered 0..n-1 and their turns 0..k-1, rows in any order, with
one System_Prompt per conversation. Holding the rows to check that would cost gigabytes on a
large file; `Sequences` keeps a compact summary per conversation instead and reports every
gap, duplicate or changed System_Prompt at the line where it shows.
"""

from __future__ import annotations

import array
import itertools

from tuneyard.datasets import issues
from tuneyard.datasets.report import IssueLog

__all__ = ["Sequences"]


class Sequences:
    """The C_ID/T_ID sequences and System_Prompts of a whole file, in 24 bytes a conversation.

    Per C_ID three numbers: the line it first appeared on (0: not yet), a hash of its
    System_Prompt, and its run: T_IDs 0 … run-1 have all been seen. A T_ID past the run
    waits in `_ahead`, with its line, until the run reaches it, so rows may come in any
    order. C_IDs index one flat array, grown up to twice the conversations seen; a C_ID
    beyond it (in a valid file, only one that comes early) waits in `_sparse` until the
    array reaches it. A changed System_Prompt goes unseen only if its 64-bit hash collides.

    The conversation of the last row is also kept in plain attributes, its run there and
    not in the array, so that its next turn — the usual next row — costs three comparisons.
    """

    def __init__(self, log: IssueLog) -> None:
        self._log = log
        self._dense = array.array("q")
        self._sparse: dict[int, list[int]] = {}
        self._ahead: dict[int, dict[int, int]] = {}
        self._current: tuple[array.array[int] | list[int], int] | None = None
        self._c_id, self._run, self._system = -1, 0, ""
        self.conversations = 0

    def add(self, line: int, c_id: int, t_id: int | None, system: str) -> bool:
        """Take one row; True when it adds a turn (a T_ID not seen before in its C_ID)."""
        if c_id == self._c_id and t_id == self._run and system == self._system:
            self._run += 1
            return True
        self._put_back()
        state: array.array[int] | list[int] = self._dense
        at = 3 * c_id
        if at >= len(state):
            state, at = self._slot(c_id)
        if state[at] == 0:
            state[at], state[at + 1] = line, hash(system)
            self.conversations += 1
        elif state[at + 1] != hash(system):
            self._log.add(issues.bad_value("System_Prompt", line))
            return t_id is not None and self._add_t_id(state, at + 2, c_id, t_id, line)
        if t_id is None:
            return False
        if t_id == state[at + 2] and c_id not in self._ahead:
            self._current, self._c_id, self._system = (state, at + 2), c_id, system
            self._run = t_id + 1  # the next turn, in order: keep this conversation at hand
            return True
        return self._add_t_id(state, at + 2, c_id, t_id, line)

    def _put_back(self) -> None:
        """Store the run of the conversation at hand in its place, and let it go."""
        if self._current is not None:
            state, at = self._current
            state[at] = self._run
            self._current, self._c_id = None, -1

    def check(self) -> None:
        """Log the first C_ID, and each conversation's first T_ID, that breaks 0, 1, 2, …."""
        self._put_back()
        line = self._c_id_gap()
        if line is not None:
            self._log.add(issues.bad_value("C_ID", line))
        for ahead in self._ahead.values():
            self._log.add(issues.bad_value("T_ID", ahead[min(ahead)]))

    def _slot(self, c_id: int) -> tuple[array.array[int] | list[int], int]:
        """Where the three numbers of `c_id` live: the flat array or its `_sparse` entry."""
        if 3 * c_id < len(self._dense):
            return self._dense, 3 * c_id
        entry = self._sparse.get(c_id)
        if entry is not None:
            return entry, 0
        if c_id < 2 * self.conversations + 4096:
            self._grow(c_id + 1)
            return self._dense, 3 * c_id
        entry = self._sparse[c_id] = [0, 0, 0]
        return entry, 0

    def _grow(self, size: int) -> None:
        """Extend the flat array to at least `size` C_IDs; move the sparse ones it now holds."""
        have = len(self._dense) // 3
        size = max(size, min(2 * have, 2 * self.conversations + 4096))
        self._dense.extend(itertools.repeat(0, 3 * (size - have)))
        for c_id in [c_id for c_id in self._sparse if c_id < size]:
            self._dense[3 * c_id : 3 * c_id + 3] = array.array("q", self._sparse.pop(c_id))

    def _add_t_id(
        self, state: array.array[int] | list[int], at: int, c_id: int, t_id: int, line: int
    ) -> bool:
        """Extend the run of T_IDs at `state[at]`; False (logged) for a T_ID seen before."""
        run, ahead = state[at], self._ahead.get(c_id)
        if t_id == run:
            run += 1
            while ahead and run in ahead:
                del ahead[run]
                run += 1
            if ahead is not None and not ahead:
                del self._ahead[c_id]
            state[at] = run
            return True
        if t_id < run or (ahead is not None and t_id in ahead):
            self._log.add(issues.bad_value("T_ID", line))
            return False
        self._ahead.setdefault(c_id, {})[t_id] = line
        return True

    def _c_id_gap(self) -> int | None:
        """The first line of the first C_ID, in sorted order, that is not its position."""
        firsts = self._dense[0::3]
        try:
            missing = firsts.index(0)
        except ValueError:
            missing = len(firsts)
        if missing == len(firsts):
            while missing in self._sparse:
                missing += 1
        else:
            later = firsts[missing:].tobytes()
            skipped = (len(later) - len(later.lstrip(b"\x00"))) // firsts.itemsize
            if missing + skipped < len(firsts):
                return firsts[missing + skipped]
        beyond = [c_id for c_id in self._sparse if c_id > missing]
        return self._sparse[min(beyond)][0] if beyond else None
