"""Jobs get a priority, and the fair-share claim its indexes: `jobs.priority` (default 0),
`ix_jobs_claim` (status, workspace_id, priority, queued_at, id) for the queued and
running jobs of each workspace (a claim seeks a workspace's oldest job of a priority), and
`ix_jobs_started` (started_at, workspace_id) for the jobs each workspace started recently.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add jobs.priority (0 for every existing job) and the two claim indexes."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    op.create_index(
        "ix_jobs_claim", "jobs", ["status", "workspace_id", "priority", "queued_at", "id"]
    )
    op.create_index("ix_jobs_started", "jobs", ["started_at", "workspace_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_jobs_started", table_name="jobs")
    op.drop_index("ix_jobs_claim", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
