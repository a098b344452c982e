"""The client-facing use-cases, composed once over the ports. Dialects call them as
`service.<use-case>.<method>`; each use-case is its own module and takes only the ports
and the collaborators it uses."""

from __future__ import annotations

from pathlib import Path

from tuneyard.core.bucket_admin import Buckets
from tuneyard.core.catalog import Models
from tuneyard.core.control import Control
from tuneyard.core.credentials import Credentials
from tuneyard.core.deployment_admin import Deployer
from tuneyard.core.estimates import Estimates, Sizing
from tuneyard.core.group_admin import Groups
from tuneyard.core.ports import Ports
from tuneyard.core.publishing import Publishing
from tuneyard.core.queries import Jobs
from tuneyard.core.served import Served
from tuneyard.core.submission import Submission
from tuneyard.core.timeline import Timeline
from tuneyard.core.transitions import Transitions
from tuneyard.core.uploads import Uploads
from tuneyard.core.weights import Weights
from tuneyard.core.workdirs import WorkDirs
from tuneyard.datasets.report import Limits

__all__ = ["Service"]


class Service:
    """The use-cases a client drives, each an attribute; nothing else."""

    def __init__(
        self,
        ports: Ports,
        *,
        data_dir: Path,
        limits: Limits,
        max_active_jobs: int = 0,
        inference_slots: int = 64,
        sizing: Sizing | None = None,
    ) -> None:
        self.ports = ports
        self.limits = limits
        """What every dataset is checked against (size, rows, issues listed)."""
        self.dirs = WorkDirs(data_dir, ports.artifacts)
        """The job folders: where a job's spec, log and outputs live (a bucket's cache)."""
        self.models = Models(ports)
        """The base-model catalogue: a model by name."""
        self.transitions = Transitions(ports)
        """The one way a job's status moves (and its status event is written)."""
        self.jobs = Jobs(ports)
        """Jobs of a workspace: get, list, find by output name."""
        self.events = Timeline(ports, self.jobs)
        """A job's timeline: one reader, with a cursor and a direction."""
        self.buckets = Buckets(ports)
        """Object-storage buckets: create one for a workspace, list them, read with their keys."""
        self.uploads = Uploads(ports, limits, model=self.models.get, buckets=self.buckets)
        """The dataset files: upload, check, list, get, delete."""
        self.credentials = Credentials(ports)
        """Keys and AK/SK pairs: mint them, and resolve who a request acts as."""
        self.control = Control(ports, self.jobs, self.transitions, self.dirs)
        """Cancel, pause, resume, prioritize, delete jobs."""
        self.groups = Groups(ports, self.jobs, self.control)
        """Job groups: create, get, list, delete, list their jobs."""
        self.weights = Weights(ports, self.jobs, self.dirs)
        """Start points, checkpoints and exports of jobs' weights."""
        self.served = Served(ports, self.jobs, self.dirs)
        """The models a workspace can run (base and tuned), and deleting tuned ones."""
        self.publishing = Publishing(ports, self.jobs, self.served)
        """Published models: named, numbered versions of tuned models."""
        self.deployments = Deployer(ports, self.served, total_slots=inference_slots)
        """Deployments: models served under a name with decoding slots reserved."""
        self.estimates = Estimates(ports, models=self.models, uploads=self.uploads, sizing=sizing)
        """Peak memory and time of a job before it runs (off without `sizing`)."""
        self.submission = Submission(
            ports,
            jobs=self.jobs,
            models=self.models,
            uploads=self.uploads,
            groups=self.groups,
            weights=self.weights,
            transitions=self.transitions,
            max_active_jobs=max_active_jobs,
            estimates=self.estimates,
        )
        """Check, create and submit jobs."""
