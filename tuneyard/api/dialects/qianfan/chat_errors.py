"""Qianfan's two chat error envelopes, one row per neutral code each.

v1 (a custom service's endpoint) answers HTTP 200 with `{"error_code", "error_msg", "id"}`,
as the vendor's inference API does: the SDK raises `APIError(error_code, …)` from it,
retries the codes it retries (server high load, QPS limits), and reads the same object
from a stream's `data:` line. v2 (`/v2/chat/completions`) answers the HTTP status with
`{"error": {"code", "message", "type"}, "id"}` (the vendor's v2 error table).
"""

from __future__ import annotations

from typing import Any

from tuneyard.api.errors import Code

__all__ = ["V1", "V2", "v1_body", "v2_body"]

_INVALID = 336003
V1: dict[Code, tuple[int, str]] = {
    Code.VALIDATION: (_INVALID, "Invalid parameter"),
    Code.UNSUPPORTED: (_INVALID, "Unsupported parameter"),
    Code.MALFORMED_JSON: (336002, "Invalid JSON"),
    Code.UNKNOWN_ACTION: (3, "Unsupported openapi method"),
    Code.MODEL_NOT_FOUND: (336005, "API name not exist"),
    Code.SERVED_MODEL_NOT_FOUND: (336005, "API name not exist"),
    Code.NOT_FOUND: (3, "Unsupported openapi method"),
    Code.FILE_NOT_FOUND: (_INVALID, "Invalid parameter"),
    Code.CONTEXT_LENGTH_EXCEEDED: (336103, "the length of messages exceeds the limit"),
    Code.UNAUTHENTICATED: (14, "IAM Certification failed"),
    Code.MALFORMED_CREDENTIALS: (14, "IAM Certification failed"),
    Code.INVALID_CREDENTIALS: (14, "IAM Certification failed"),
    Code.SIGNATURE_MISMATCH: (14, "IAM Certification failed"),
    Code.REQUEST_EXPIRED: (14, "IAM Certification failed"),
    Code.FORBIDDEN: (6, "No permission to access data"),
    Code.METHOD_NOT_ALLOWED: (336101, "Invalid HTTP method"),
    Code.WRONG_STATE: (_INVALID, "Invalid parameter"),
    Code.CONFLICT: (_INVALID, "Invalid parameter"),
    Code.PAYLOAD_TOO_LARGE: (336103, "the length of messages exceeds the limit"),
    Code.RATE_LIMITED: (18, "Open api qps request limit reached"),
    Code.UNAVAILABLE: (336100, "Server high load"),
    Code.EXPORT_FAILED: (336000, "Internal error"),
    Code.INTERNAL: (336000, "Internal error"),
}
"""Neutral code → (v1 `error_code`, default `error_msg`); the SDK's `APIErrorCode`."""

V2: dict[Code, tuple[int, str, str]] = {
    Code.VALIDATION: (400, "invalid_request_error", "invalid_argument"),
    Code.UNSUPPORTED: (400, "invalid_request_error", "invalid_argument"),
    Code.MALFORMED_JSON: (400, "invalid_request_error", "malformed_json"),
    Code.UNKNOWN_ACTION: (404, "invalid_request_error", "invalid_argument"),
    Code.MODEL_NOT_FOUND: (401, "invalid_request_error", "invalid_model"),
    Code.SERVED_MODEL_NOT_FOUND: (401, "invalid_request_error", "invalid_model"),
    Code.NOT_FOUND: (404, "invalid_request_error", "invalid_argument"),
    Code.FILE_NOT_FOUND: (400, "invalid_request_error", "invalid_argument"),
    Code.CONTEXT_LENGTH_EXCEEDED: (400, "invalid_request_error", "tokens_too_long"),
    Code.UNAUTHENTICATED: (401, "access_denied", "invalid_iam_token"),
    Code.MALFORMED_CREDENTIALS: (401, "access_denied", "invalid_iam_token"),
    Code.INVALID_CREDENTIALS: (401, "access_denied", "invalid_iam_token"),
    Code.SIGNATURE_MISMATCH: (401, "access_denied", "invalid_iam_token"),
    Code.REQUEST_EXPIRED: (401, "access_denied", "invalid_iam_token"),
    Code.FORBIDDEN: (403, "access_denied", "no_permission"),
    Code.METHOD_NOT_ALLOWED: (405, "invalid_request_error", "invalid_argument"),
    Code.WRONG_STATE: (400, "invalid_request_error", "invalid_argument"),
    Code.CONFLICT: (400, "invalid_request_error", "invalid_argument"),
    Code.PAYLOAD_TOO_LARGE: (400, "invalid_request_error", "characters_too_long"),
    Code.RATE_LIMITED: (429, "rate_limit_error", "rpm_rate_limit_exceeded"),
    Code.UNAVAILABLE: (503, "server_error", "server_high_load"),
    Code.EXPORT_FAILED: (500, "server_error", "internal_error"),
    Code.INTERNAL: (500, "server_error", "internal_error"),
}
"""Neutral code → (HTTP status, v2 `error.type`, v2 `error.code`). An unknown service, or
another workspace's, is `invalid_model` as the vendor answers a model the key may not use."""


def v1_body(code: Code, message: str, request_id: str) -> dict[str, Any]:
    """`{"error_code", "error_msg", "id"}` (sent with HTTP 200, or as a stream's last line)."""
    number, default = V1[code]
    return {"error_code": number, "error_msg": message or default, "id": request_id}


def v2_body(code: Code, message: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, `{"error": {code, message, type}, "id"}`)."""
    status, kind, vendor_code = V2[code]
    return status, {
        "error": {"code": vendor_code, "message": message or vendor_code, "type": kind},
        "id": request_id,
    }
