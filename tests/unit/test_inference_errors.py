"""The worker's error codes, mapped once to typed errors (and so to each dialect's)."""

from __future__ import annotations

import pytest

from tuneyard import errors
from tuneyard.api import errors as api_errors
from tuneyard.serving import client, protocol

CASES = [
    ("context_length_exceeded", errors.ContextLengthExceeded, 400),
    ("model_not_found", errors.ServedModelNotFound, 404),
    ("invalid_request", errors.InvalidRequest, 400),
    ("internal", errors.InferenceFailed, 500),
    ("something new", errors.InferenceFailed, 500),
]


@pytest.mark.parametrize("code, kind, status", CASES)
def test_every_worker_code_has_its_typed_error(code: str, kind: type, status: int) -> None:
    mapped = client.error_of(protocol.Error(id="r1", code=code, message="at /srv/data/x"))
    assert type(mapped) is kind and api_errors.classify(mapped)[0] == status


def test_every_code_the_protocol_names_is_a_case_above() -> None:
    assert set(protocol.ERROR_CODES) <= {code for code, _, _ in CASES}


def test_messages_with_server_paths_stay_in_the_log() -> None:
    for code in ("model_not_found", "internal"):
        mapped = client.error_of(protocol.Error(id="r1", code=code, message="at /srv/data/x"))
        assert "/srv/data" not in mapped.message


def test_a_full_queue_and_a_lost_worker_map_to_429_and_503() -> None:
    assert api_errors.classify(errors.Overloaded(retry_after=2))[0] == 429
    assert api_errors.classify(errors.InferenceUnavailable())[0] == 503
    assert errors.Overloaded(retry_after=2).retry_after == 2
