"""What the OpenAI dialect keeps: a file's check status, a job's metadata, and which
input (and what kind of problem) failed a job.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add files.status/status_details and jobs.user_metadata/error_kind/error_param."""
    with op.batch_alter_table("files") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="processed")
        )
        batch.add_column(sa.Column("status_details", sa.Text(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("user_metadata", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("error_kind", sa.String(64), nullable=True))
        batch.add_column(sa.Column("error_param", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("error_param")
        batch.drop_column("error_kind")
        batch.drop_column("user_metadata")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("status_details")
        batch.drop_column("status")
