"""The whole tuneyard error tree; each class docstring is its default message.

    TuneyardError
    ├── InvalidRequest          a request that can never succeed as sent (param names the field)
    │   ├── ModelNotFound       the base model is not in the catalogue
    │   ├── UnsupportedFeature  a valid value tuneyard does not serve (e.g. a tuningType)
    │   ├── MalformedBody       the body is not a well-formed JSON object
    │   └── UnknownOperation    the request names an operation the server has not (an Action)
    ├── PayloadTooLarge         a request body past its limit (JSON, or an upload's file.size)
    ├── Unauthenticated         no credentials were sent
    │   ├── MalformedCredentials  a credential header that cannot be read
    │   └── InvalidCredentials  credentials were sent but are unknown or revoked
    │       ├── RequestExpired      a signed request outside its time window
    │       └── SignatureMismatch   a signature that does not match the secret
    ├── Forbidden               valid credentials, but not for this workspace
    ├── NotFound                the resource does not exist in the caller's workspace
    │   ├── JobNotFound
    │   ├── FileNotFound
    │   ├── GroupNotFound
    │   └── CheckpointNotFound
    ├── InvalidTransition       the job's status does not allow this operation
    ├── Conflict                the resource changed under the caller; retrying will not help
    ├── Throttled               a quota is used up for now; retrying later will help
    ├── StorageError            a backend (database, blob store, object storage) failed
    └── ExportFailed            saved weights could not be exported (unreadable or corrupt)

Each edge maps these once: the HTTP layer in `tuneyard.api.errors`, the CLI in
`tuneyard.cli`. Third-party exceptions are translated where they are caught, with
`raise ... from exc`.
"""

from __future__ import annotations

__all__ = [
    "CheckpointNotFound",
    "Conflict",
    "ExportFailed",
    "FileNotFound",
    "Forbidden",
    "GroupNotFound",
    "InvalidCredentials",
    "InvalidRequest",
    "InvalidTransition",
    "MalformedCredentials",
    "JobNotFound",
    "MalformedBody",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "RequestExpired",
    "SignatureMismatch",
    "StorageError",
    "Throttled",
    "TuneyardError",
    "Unauthenticated",
    "UnknownOperation",
    "UnsupportedFeature",
]


class TuneyardError(Exception):
    """Something went wrong in tuneyard."""

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or (type(self).__doc__ or "").strip()
        self.param = param
        super().__init__(self.message)


class InvalidRequest(TuneyardError):
    """The request is invalid."""


class ModelNotFound(InvalidRequest):
    """model not found"""


class UnsupportedFeature(InvalidRequest):
    """Unsupported function"""


class MalformedBody(InvalidRequest):
    """The body is not well-formed JSON."""


class UnknownOperation(InvalidRequest):
    """Unknown operation."""


class PayloadTooLarge(TuneyardError):
    """The request body is too large."""


class Unauthenticated(TuneyardError):
    """Unauthorized"""


class MalformedCredentials(Unauthenticated):
    """The credentials could not be read."""


class InvalidCredentials(Unauthenticated):
    """Invalid key"""


class RequestExpired(InvalidCredentials):
    """The request's signature has expired."""


class SignatureMismatch(InvalidCredentials):
    """The request signature does not match."""


class Forbidden(TuneyardError):
    """Access denied."""


class NotFound(TuneyardError):
    """Not found"""


class JobNotFound(NotFound):
    """No such job."""


class FileNotFound(NotFound):
    """File not found."""


class GroupNotFound(NotFound):
    """No such job group."""


class CheckpointNotFound(NotFound):
    """checkpoint not found"""


class InvalidTransition(TuneyardError):
    """The job's status does not allow this operation."""


class Conflict(TuneyardError):
    """The resource changed under the request."""


class Throttled(TuneyardError):
    """Too many requests; please retry later."""


class StorageError(TuneyardError):
    """A storage backend failed."""


class ExportFailed(TuneyardError):
    """The model could not be exported."""
