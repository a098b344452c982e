"""Listing at a million jobs: page totals from maintained counters, pages by base model
from an index.

`job_counts` holds how many live jobs each workspace has of each base model (the
repository keeps it exact in the same transaction as each insert and delete), filled here
from the jobs already stored; `ix_jobs_workspace_model_created` (workspace_id, deleted,
base_model, created_at, id) serves a page of one base model's jobs in the stable order as
`ix_jobs_workspace_created` serves the whole workspace's.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create job_counts (filled from jobs) and the per-model listing index."""
    op.create_table(
        "job_counts",
        sa.Column("workspace_id", sa.String(64), primary_key=True),
        sa.Column("base_model", sa.String(256), primary_key=True),
        sa.Column("live", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO job_counts (workspace_id, base_model, live) "
        "SELECT workspace_id, base_model, count(*) FROM jobs "
        "WHERE deleted = false GROUP BY workspace_id, base_model"
    )
    op.create_index(
        "ix_jobs_workspace_model_created",
        "jobs",
        ["workspace_id", "deleted", "base_model", "created_at", "id"],
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_jobs_workspace_model_created", table_name="jobs")
    op.drop_table("job_counts")
