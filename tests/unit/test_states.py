"""The transition table is the only source of legal status changes."""

from __future__ import annotations

import pytest

from tuneyard import errors
from tuneyard.core import states
from tuneyard.core.states import JobStatus as S


def test_every_status_has_a_row() -> None:
    assert set(states.TRANSITIONS) == set(S)


def test_terminal_states_go_nowhere() -> None:
    for status in states.TERMINAL:
        assert states.TRANSITIONS[status] == frozenset()
        assert states.is_terminal(status)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.CREATED, S.VALIDATING),
        (S.VALIDATING, S.QUEUED),
        (S.VALIDATING, S.FAILED),
        (S.VALIDATING, S.CREATED),  # its validator's lease lapsed: validate again
        (S.QUEUED, S.RUNNING),
        (S.RUNNING, S.SUCCEEDED),
        (S.RUNNING, S.CANCELLING),
        (S.RUNNING, S.QUEUED),
        (S.CANCELLING, S.CANCELLED),
        (S.QUEUED, S.CANCELLED),
    ],
)
def test_legal_moves(current: S, new: S) -> None:
    states.check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.CREATED, S.RUNNING),
        (S.QUEUED, S.SUCCEEDED),
        (S.SUCCEEDED, S.FAILED),
        (S.CANCELLED, S.QUEUED),
        (S.FAILED, S.RUNNING),
        (S.CANCELLING, S.SUCCEEDED),
    ],
)
def test_illegal_moves_raise(current: S, new: S) -> None:
    with pytest.raises(errors.InvalidTransition, match=f"from {current.value} to {new.value}"):
        states.check_transition(current, new)


def test_every_non_terminal_status_can_end() -> None:
    """Nothing can be stuck: each live status reaches a terminal one."""
    for status in set(S) - states.TERMINAL:
        seen, frontier = {status}, [status]
        while frontier:
            for nxt in states.TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & states.TERMINAL
