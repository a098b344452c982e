"""The SQL schema (SQLAlchemy Core); Alembic migrations create exactly these tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

__all__ = [
    "api_keys",
    "buckets",
    "deployment_slots",
    "deployments",
    "files",
    "job_counts",
    "job_events",
    "job_groups",
    "jobs",
    "metadata",
    "published_models",
    "published_versions",
    "UTCDateTime",
]


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend stores."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("account", sa.String(64), nullable=True),
    sa.Column("subaccount", sa.String(64), nullable=True),
    sa.Column("workspaces", sa.JSON(), nullable=True),
    sa.Column("access_key", sa.String(64), nullable=True, unique=True),
    sa.Column("secret_sealed", sa.Text(), nullable=True),
)

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False, index=True),
    sa.Column("filename", sa.String(512), nullable=False),
    sa.Column("bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("blob_key", sa.String(128), nullable=False),
    sa.Column("truncated", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="processed"),
    sa.Column("status_details", sa.Text(), nullable=True),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("base_model", sa.String(256), nullable=False),
    sa.Column("task_type", sa.String(32), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("training_file_id", sa.String(40), nullable=True),
    sa.Column("hyperparameters", sa.JSON(), nullable=False),
    sa.Column("dialect", sa.String(32), nullable=False),
    sa.Column("created_via", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("queued_at", UTCDateTime(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("output_path", sa.Text(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("objective", sa.String(16), nullable=False, server_default="sft"),
    sa.Column("parent_job_id", sa.String(40), nullable=True),
    sa.Column("parent_step", sa.Integer(), nullable=True),
    sa.Column("validation_file_id", sa.String(40), nullable=True),
    sa.Column("output_name", sa.String(256), nullable=True),
    sa.Column("echo", sa.JSON(), nullable=True),
    sa.Column("account", sa.String(64), nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("modified_by", sa.String(64), nullable=True),
    sa.Column("group_id", sa.String(40), nullable=True),
    sa.Column("user_metadata", sa.JSON(), nullable=True),
    sa.Column("error_kind", sa.String(64), nullable=True),
    sa.Column("error_param", sa.String(64), nullable=True),
    sa.Column("model_deleted_at", UTCDateTime(), nullable=True),
    sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Index("ix_jobs_workspace_created", "workspace_id", "deleted", "created_at", "id"),
    sa.Index(
        "ix_jobs_workspace_model_created",
        "workspace_id",
        "deleted",
        "base_model",
        "created_at",
        "id",
    ),
    sa.Index("ix_jobs_group_created", "group_id", "created_at", "id"),
    sa.Index("ix_jobs_status_queued", "status", "queued_at"),
    sa.Index(
        "ix_jobs_claim",
        "status",
        "workspace_id",
        "priority",
        "queued_at",
        "id",
    ),
    sa.Index("ix_jobs_started", "started_at", "workspace_id"),
)

_LIVE_OUTPUT = sa.and_(jobs.c.deleted == sa.false(), jobs.c.output_name.is_not(None))
sa.Index(
    "ux_jobs_workspace_output",
    jobs.c.workspace_id,
    jobs.c.output_name,
    unique=True,
    sqlite_where=_LIVE_OUTPUT,
    postgresql_where=_LIVE_OUTPUT,
)
"""A tuned model's name is taken by one live job of a workspace at most (deleted jobs free
theirs): concurrent creates cannot both publish it."""

job_counts = sa.Table(
    "job_counts",
    metadata,
    sa.Column("workspace_id", sa.String(64), primary_key=True),
    sa.Column("base_model", sa.String(256), primary_key=True),
    sa.Column("live", sa.BigInteger(), nullable=False),
)
"""How many live (not deleted) jobs each workspace has of each base model, kept exact by
the repository in the same transaction as the insert or delete: a page's total is read
here instead of counting the jobs table on every call."""

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("level", sa.String(8), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("data", sa.JSON(), nullable=True),
)

job_groups = sa.Table(
    "job_groups",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("base_model", sa.String(256), nullable=False),
    sa.Column("objective", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("echo", sa.JSON(), nullable=True),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    sa.Index("ix_job_groups_workspace_created", "workspace_id", "deleted", "created_at", "id"),
)

buckets = sa.Table(
    "buckets",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False, index=True),
    sa.Column("access_key", sa.String(128), nullable=False, unique=True),
    sa.Column("secret_sealed", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("model", sa.String(512), nullable=False),
    sa.Column("base_model", sa.String(256), nullable=False),
    sa.Column("job_id", sa.String(40), nullable=True, index=True),
    sa.Column("step", sa.Integer(), nullable=True),
    sa.Column("adapter", sa.Boolean(), nullable=False),
    sa.Column("capacity", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("dialect", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("attributes", sa.JSON(), nullable=True),
    sa.UniqueConstraint("workspace_id", "name", name="ux_deployments_workspace_name"),
    sa.Index("ix_deployments_workspace_created", "workspace_id", "created_at", "id"),
)
"""Deployments (`core.deployments`): a removed deployment's row is deleted, so a name is
taken by one deployment of a workspace at most."""

deployment_slots = sa.Table(
    "deployment_slots",
    metadata,
    sa.Column("pool", sa.String(32), primary_key=True),
    sa.Column("reserved", sa.Integer(), nullable=False),
)
"""The decoding slots live deployments hold, one row (`engine`) kept exact in the same
transaction as each reservation and release: a conditional `UPDATE … WHERE reserved + n
<= total` on it is what makes concurrent reservations atomic."""

published_models = sa.Table(
    "published_models",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("labels", sa.JSON(), nullable=False),
    sa.Column("dialect", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("attributes", sa.JSON(), nullable=True),
    sa.UniqueConstraint("workspace_id", "name", name="ux_published_models_workspace_name"),
    sa.Index("ix_published_models_workspace_created", "workspace_id", "created_at", "id"),
)
"""Published models (`core.published`): a removed one's row is deleted, so a name is taken
by one published model of a workspace at most."""

published_versions = sa.Table(
    "published_versions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("model_id", sa.String(40), nullable=False),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("step", sa.Integer(), nullable=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("attributes", sa.JSON(), nullable=True),
    sa.UniqueConstraint("model_id", "number", name="ux_published_versions_model_number"),
)
"""A published model's versions, numbered per model; the unique (model_id, number) is what
makes concurrent numbering safe (a loser retries with the next number)."""
