"""Published models: named, versioned tuned models (`core.published`).

`published_models` holds the names (unique per workspace); `published_versions` their
versions, each a succeeded job's output or checkpoint, numbered per model.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneyard.storage.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create published_models and published_versions."""
    op.create_table(
        "published_models",
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
    )
    op.create_index(
        "ix_published_models_workspace_created",
        "published_models",
        ["workspace_id", "created_at", "id"],
    )
    op.create_table(
        "published_versions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("model_id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.UniqueConstraint("model_id", "number", name="ux_published_versions_model_number"),
    )
    op.create_index("ix_published_versions_job_id", "published_versions", ["job_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_published_versions_job_id", table_name="published_versions")
    op.drop_table("published_versions")
    op.drop_index("ix_published_models_workspace_created", table_name="published_models")
    op.drop_table("published_models")
