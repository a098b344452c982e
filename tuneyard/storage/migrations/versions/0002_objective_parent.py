"""Jobs gain a training objective (sft | dpo) and the earlier job they start from.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add jobs.objective, jobs.parent_job_id and jobs.parent_step."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("objective", sa.String(16), nullable=False, server_default="sft")
        )
        batch.add_column(sa.Column("parent_job_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("parent_step", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop the three columns."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("parent_step")
        batch.drop_column("parent_job_id")
        batch.drop_column("objective")
