"""The one table from domain errors to HTTP status and neutral `Code`; dialects render
envelopes (each dialect's error table has a row for every `Code`)."""

from __future__ import annotations

import enum

from tuneyard import errors

__all__ = ["Code", "classify", "http_code", "occurring"]


class Code(enum.StrEnum):
    """A neutral error code: what went wrong, before any dialect names it its own way."""

    VALIDATION = "validation"
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_ACTION = "unknown_action"
    UNSUPPORTED = "unsupported"
    MODEL_NOT_FOUND = "model_not_found"
    SERVED_MODEL_NOT_FOUND = "served_model_not_found"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    UNAUTHENTICATED = "unauthenticated"
    MALFORMED_CREDENTIALS = "malformed_credentials"
    INVALID_CREDENTIALS = "invalid_credentials"
    REQUEST_EXPIRED = "request_expired"
    SIGNATURE_MISMATCH = "signature_mismatch"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    FILE_NOT_FOUND = "file_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    WRONG_STATE = "wrong_state"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    EXPORT_FAILED = "export_failed"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


_TABLE: list[tuple[type[errors.TuneyardError], int, Code]] = [
    (errors.ModelNotFound, 400, Code.MODEL_NOT_FOUND),
    (errors.UnsupportedFeature, 400, Code.UNSUPPORTED),
    (errors.MalformedBody, 400, Code.MALFORMED_JSON),
    (errors.UnknownOperation, 400, Code.UNKNOWN_ACTION),
    (errors.ContextLengthExceeded, 400, Code.CONTEXT_LENGTH_EXCEEDED),
    (errors.InvalidRequest, 400, Code.VALIDATION),
    (errors.PayloadTooLarge, 413, Code.PAYLOAD_TOO_LARGE),
    (errors.RequestExpired, 401, Code.REQUEST_EXPIRED),
    (errors.SignatureMismatch, 401, Code.SIGNATURE_MISMATCH),
    (errors.InvalidCredentials, 401, Code.INVALID_CREDENTIALS),
    (errors.MalformedCredentials, 401, Code.MALFORMED_CREDENTIALS),
    (errors.Unauthenticated, 401, Code.UNAUTHENTICATED),
    (errors.FileNotFound, 404, Code.FILE_NOT_FOUND),
    (errors.ServedModelNotFound, 404, Code.SERVED_MODEL_NOT_FOUND),
    (errors.NotFound, 404, Code.NOT_FOUND),
    (errors.Forbidden, 403, Code.FORBIDDEN),
    (errors.InvalidTransition, 400, Code.WRONG_STATE),
    (errors.Conflict, 409, Code.CONFLICT),
    (errors.Throttled, 429, Code.RATE_LIMITED),
    (errors.StorageError, 500, Code.INTERNAL),
    (errors.ExportFailed, 500, Code.EXPORT_FAILED),
    (errors.InferenceUnavailable, 503, Code.UNAVAILABLE),
    (errors.InferenceFailed, 500, Code.INTERNAL),
]

_HTTP: dict[int, Code] = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}


def classify(exc: errors.TuneyardError) -> tuple[int, Code]:
    """(HTTP status, neutral code) for a domain error; the first matching row wins."""
    for kind, status, code in _TABLE:
        if isinstance(exc, kind):
            return status, code
    return 500, Code.INTERNAL


def http_code(status: int) -> Code:
    """The neutral code of an HTTP error the router raised itself (no route, wrong method)."""
    return _HTTP.get(status, Code.VALIDATION)


def occurring() -> frozenset[Code]:
    """Every code an error response can carry: the table's, the router's own, INTERNAL for
    anything unexpected (a dialect's error table has a row for each, and no other)."""
    return frozenset(
        [code for _, _, code in _TABLE] + list(_HTTP.values()) + [Code.VALIDATION, Code.INTERNAL]
    )
