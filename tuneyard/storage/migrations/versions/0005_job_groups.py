"""Job groups (Qianfan's jobs, named containers of runs) and jobs.group_id.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneyard.storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create job_groups; add jobs.group_id with an index for listing a group's runs."""
    op.create_table(
        "job_groups",
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
    )
    op.create_index(
        "ix_job_groups_workspace_created",
        "job_groups",
        ["workspace_id", "deleted", "created_at", "id"],
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("group_id", sa.String(40), nullable=True))
        batch.create_index("ix_jobs_group_created", ["group_id", "created_at", "id"])


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_group_created")
        batch.drop_column("group_id")
    op.drop_index("ix_job_groups_workspace_created", table_name="job_groups")
    op.drop_table("job_groups")
