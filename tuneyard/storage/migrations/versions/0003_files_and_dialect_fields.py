"""Files gain a description and soft deletion; jobs gain a validation file, the name of
their output model, the request fields their dialect echoes back, and who owns, created
and last changed them; keys gain their account, sub-account and extra workspaces.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneyard.storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the files, jobs and api_keys columns."""
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("validation_file_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("output_name", sa.String(256), nullable=True))
        batch.add_column(sa.Column("echo", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("account", sa.String(64), nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("modified_by", sa.String(64), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("account", sa.String(64), nullable=True))
        batch.add_column(sa.Column("subaccount", sa.String(64), nullable=True))
        batch.add_column(sa.Column("workspaces", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop the columns again."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("workspaces")
        batch.drop_column("subaccount")
        batch.drop_column("account")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("modified_by")
        batch.drop_column("created_by")
        batch.drop_column("account")
        batch.drop_column("echo")
        batch.drop_column("output_name")
        batch.drop_column("validation_file_id")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("description")
