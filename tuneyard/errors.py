"""The whole tuneyard error tree; each class docstring is its default message.

    TuneyardError
    ├── InvalidRequest          a request that can never succeed as sent (param names the field)
    │   ├── ModelNotFound       the base model is not in the catalogue
    │   ├── UnsupportedFeature  a valid value tuneyard does not serve (e.g. a tuningType)
    │   ├── MalformedBody       the body is not a well-formed JSON object
    │   ├── UnknownOperation    the request names an operation the server has not (an Action)
    │   ├── CapacityExceeded    more decoding slots than the machine has left to reserve
    │   ├── EstimateExceeded    a job whose estimate does not fit the machine or the policy
    │   └── ContextLengthExceeded  a prompt (plus the reply asked for) past the model's context
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
    │   ├── CheckpointNotFound
    │   ├── DeploymentNotFound
    │   ├── PublishedNotFound    no published model or version of that id
    │   └── ServedModelNotFound  no model of that name to run for the caller
    │       └── ModelNotReady    a tuned model whose job has not succeeded (yet)
    ├── InvalidTransition       the job's status does not allow this operation
    ├── Conflict                the resource changed under the caller; retrying will not help
    │   ├── DeploymentNameTaken  a live deployment of the workspace has that name
    │   ├── ModelDeployed       a tuned model a live deployment serves cannot be deleted
    │   └── PublishedNameTaken  a published model of the workspace has that name
    ├── Throttled               a quota is used up for now; retrying later will help
    │   └── Overloaded          the inference queue is full (`retry_after` seconds)
    ├── StorageError            a backend (database, blob store, object storage) failed
    ├── ExportFailed            saved weights could not be exported (unreadable or corrupt)
    ├── InferenceFailed         the inference worker could not answer a request
    │   └── InferenceUnavailable  the worker is gone (it exited or could not start)
    └── ServerUnreachable       (a client's) no tuneyard server answers at the URL it was given

Each edge maps these once: the HTTP layer in `tuneyard.api.errors`, the CLI in
`tuneyard.cli`. Third-party exceptions are translated where they are caught, with
`raise ... from exc`.
"""

from __future__ import annotations

__all__ = [
    "CapacityExceeded",
    "CheckpointNotFound",
    "Conflict",
    "ContextLengthExceeded",
    "DeploymentNameTaken",
    "DeploymentNotFound",
    "EstimateExceeded",
    "ExportFailed",
    "FileNotFound",
    "Forbidden",
    "GroupNotFound",
    "InferenceFailed",
    "InferenceUnavailable",
    "InvalidCredentials",
    "InvalidRequest",
    "InvalidTransition",
    "MalformedCredentials",
    "JobNotFound",
    "MalformedBody",
    "ModelNotFound",
    "ModelDeployed",
    "ModelNotReady",
    "NotFound",
    "Overloaded",
    "PublishedNameTaken",
    "PublishedNotFound",
    "PayloadTooLarge",
    "RequestExpired",
    "ServedModelNotFound",
    "ServerUnreachable",
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


class ContextLengthExceeded(InvalidRequest):
    """The prompt and the reply asked for do not fit in the model's context."""


class CapacityExceeded(InvalidRequest):
    """The machine has not that many decoding slots left to reserve."""


class EstimateExceeded(InvalidRequest):
    """The job's estimated memory or time is over what the machine or the server allows."""


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


class DeploymentNotFound(NotFound):
    """No such deployment."""


class PublishedNotFound(NotFound):
    """No such published model or version."""


class ServedModelNotFound(NotFound):
    """The model does not exist or you do not have access to it."""


class ModelNotReady(ServedModelNotFound):
    """The model is not ready: its fine-tuning job has not succeeded."""


class InvalidTransition(TuneyardError):
    """The job's status does not allow this operation."""


class Conflict(TuneyardError):
    """The resource changed under the request."""


class DeploymentNameTaken(Conflict):
    """A deployment of that name already exists."""


class ModelDeployed(Conflict):
    """The model is deployed; delete its deployments first."""


class PublishedNameTaken(Conflict):
    """A published model of that name already exists."""


class Throttled(TuneyardError):
    """Too many requests; please retry later."""


class Overloaded(Throttled):
    """Too many requests are waiting for the inference engine; please retry later."""

    def __init__(
        self, message: str | None = None, *, retry_after: int = 1, param: str | None = None
    ) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after
        """Seconds the client should wait before retrying (the `Retry-After` header)."""


class StorageError(TuneyardError):
    """A storage backend failed."""


class ExportFailed(TuneyardError):
    """The model could not be exported."""


class InferenceFailed(TuneyardError):
    """The inference engine failed to answer the request."""


class InferenceUnavailable(InferenceFailed):
    """The inference engine is unavailable; please retry."""


class ServerUnreachable(TuneyardError):
    """The tuneyard server could not be reached (a client's error, never the server's)."""
