"""Object-storage buckets: the workspace that owns each and its sealed key pair.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneyard.storage.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create buckets (name, owner workspace, unique access key, sealed secret key)."""
    op.create_table(
        "buckets",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("access_key", sa.String(128), nullable=False, unique=True),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_buckets_workspace_id", "buckets", ["workspace_id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_buckets_workspace_id", table_name="buckets")
    op.drop_table("buckets")
