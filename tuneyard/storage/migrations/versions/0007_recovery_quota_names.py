"""Live output names are unique per workspace (a partial unique index, so that two
concurrent creates cannot both publish one name), and `jobs.attempts` counts lost workers
only, no longer every claim.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEX = "ux_jobs_workspace_output"


def upgrade() -> None:
    """Recount attempts; rename all but the oldest of any live jobs that share an output
    name (the name gets `-<job id>`, so the index can be built); create the index."""
    _recount_attempts()
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String()),
        sa.column("workspace_id", sa.String()),
        sa.column("output_name", sa.String()),
        sa.column("deleted", sa.Boolean()),
        sa.column("created_at", sa.DateTime()),
    )
    older = jobs.alias("older")
    live = sa.and_(jobs.c.deleted == sa.false(), jobs.c.output_name.is_not(None))
    earlier = (
        sa.select(older.c.id)
        .where(
            older.c.workspace_id == jobs.c.workspace_id,
            older.c.output_name == jobs.c.output_name,
            older.c.deleted == sa.false(),
            sa.or_(
                older.c.created_at < jobs.c.created_at,
                sa.and_(older.c.created_at == jobs.c.created_at, older.c.id < jobs.c.id),
            ),
        )
        .exists()
    )
    renamed = sa.func.substr(jobs.c.output_name, 1, 200, type_=sa.String()) + "-" + jobs.c.id
    op.execute(jobs.update().where(live, earlier).values(output_name=renamed))
    where = sa.text("deleted = false AND output_name IS NOT NULL")
    op.create_index(
        _INDEX,
        "jobs",
        ["workspace_id", "output_name"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def _recount_attempts() -> None:
    """`attempts` becomes the workers each job lost, read from its timeline: one warning
    per lost worker that requeued it, and the lost worker that made it give up."""
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String()),
        sa.column("status", sa.String()),
        sa.column("error_message", sa.Text()),
        sa.column("attempts", sa.Integer()),
    )
    events = sa.table(
        "job_events",
        sa.column("job_id", sa.String()),
        sa.column("level", sa.String()),
        sa.column("message", sa.Text()),
    )
    requeued = (
        sa.select(sa.func.count())
        .select_from(events)
        .where(
            events.c.job_id == jobs.c.id,
            events.c.level == "warn",
            sa.or_(
                events.c.message.like("The worker was lost%"),
                events.c.message.like("The training worker was killed%"),
            ),
        )
        .scalar_subquery()
    )
    gave_up = sa.and_(
        jobs.c.status == "failed", jobs.c.error_message.like("%; gave up after % attempts")
    )
    op.execute(jobs.update().values(attempts=requeued + sa.case((gave_up, 1), else_=0)))


def downgrade() -> None:
    """Drop the index."""
    op.drop_index(_INDEX, table_name="jobs")
