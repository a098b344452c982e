"""The one table from domain errors to HTTP status and neutral code; dialects render envelopes."""

from __future__ import annotations

from tuneyard import errors

__all__ = ["classify"]

_TABLE: list[tuple[type[errors.TuneyardError], int, str]] = [
    (errors.ModelNotFound, 400, "model_not_found"),
    (errors.UnsupportedFeature, 400, "unsupported"),
    (errors.MalformedBody, 400, "malformed_json"),
    (errors.UnknownOperation, 400, "unknown_action"),
    (errors.InvalidRequest, 400, "validation"),
    (errors.PayloadTooLarge, 413, "payload_too_large"),
    (errors.RequestExpired, 401, "request_expired"),
    (errors.SignatureMismatch, 401, "signature_mismatch"),
    (errors.InvalidCredentials, 401, "invalid_credentials"),
    (errors.MalformedCredentials, 401, "malformed_credentials"),
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.FileNotFound, 404, "file_not_found"),
    (errors.NotFound, 404, "not_found"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.InvalidTransition, 400, "wrong_state"),
    (errors.Conflict, 409, "conflict"),
    (errors.Throttled, 429, "rate_limited"),
    (errors.StorageError, 500, "internal"),
    (errors.ExportFailed, 500, "export_failed"),
]


def classify(exc: errors.TuneyardError) -> tuple[int, str]:
    """(HTTP status, neutral code) for a domain error; the first matching row wins."""
    for kind, status, code in _TABLE:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal"
