"""Reading jobs as a client sees them: one job of the workspace, pages and keyset slices
of its jobs, the job behind a tuned model's name, and the rule for such names."""

from __future__ import annotations

from collections.abc import Mapping

from tuneyard import errors
from tuneyard.core import paging
from tuneyard.core.jobs import Job
from tuneyard.core.paging import Slice
from tuneyard.core.ports import Page, Ports

__all__ = ["Jobs", "name_taken", "visible"]


def visible(workspace_id: str, job_id: str, job: Job | None, *, param: str | None = None) -> Job:
    """`job` (the stored job `job_id`, or None) as `Jobs.get` answers it for the workspace:
    itself, or JobNotFound when it is missing, deleted or another workspace's."""
    if job is None or job.deleted or job.workspace_id != workspace_id:
        if param is None:
            raise errors.JobNotFound()
        raise errors.JobNotFound(f"job {job_id} not found", param=param)
    return job


class Jobs:
    """Job lookups scoped to a workspace: another workspace's job is simply not found."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def get(self, workspace_id: str, job_id: str, *, param: str | None = None) -> Job:
        """A job of the caller's workspace; another workspace's job is simply not found.

        `param` names the request field that referred to the job (the message then names
        the job too); None when the job is the request's own subject."""
        return visible(workspace_id, job_id, self.ports.jobs.get(job_id), param=param)

    def by_output(self, workspace_id: str, output_name: str) -> Job | None:
        """The workspace's job whose tuned model is published as `output_name`, if any;
        never for a base model's name, which always means the base model."""
        if self.ports.catalog.get(output_name) is not None:
            return None
        return self.ports.jobs.find_by_output_name(workspace_id, output_name)

    def list(
        self, workspace_id: str, *, offset: int, limit: int, base_model: str | None = None
    ) -> Page:
        """A page of the workspace's jobs (of one base model, if given), newest first."""
        return self.ports.jobs.page(workspace_id, offset=offset, limit=limit, base_model=base_model)

    def list_after(
        self,
        workspace_id: str,
        *,
        marker: str | None,
        limit: int,
        oldest_first: bool = False,
        group_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Slice[Job]:
        """Up to `limit` of the workspace's jobs (of one group, with these metadata pairs,
        if given) after the job named `marker` (exclusive; it may have been deleted since),
        newest first or oldest first."""
        after = (
            paging.cursor_at(marker, self.ports.jobs.get(marker), workspace_id) if marker else None
        )
        return self.ports.jobs.slice(
            workspace_id,
            after=after,
            limit=limit,
            oldest_first=oldest_first,
            group_id=group_id,
            metadata=metadata,
        )

    def check_output_name(self, workspace_id: str, name: str) -> None:
        """Refuse (Conflict) a name for a tuned model that a base model or a live tuned
        model of the workspace already has; the repository enforces the latter again,
        atomically, when the job is stored."""
        if self.ports.catalog.get(name) is not None:
            raise errors.Conflict(
                f"Model instance {name} already exists as a base model, please specify "
                "another name",
                param="model_name",
            )
        if self.ports.jobs.find_by_output_name(workspace_id, name) is not None:
            raise name_taken(name)


def name_taken(name: str) -> errors.Conflict:
    """The refusal of a tuned model's name another live job of the workspace has."""
    return errors.Conflict(
        f"Model instance {name} already exists, please specify a suffix", param="model_name"
    )
