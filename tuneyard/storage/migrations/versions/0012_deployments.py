"""Deployments: models served under a name with reserved decoding slots.

`deployments` holds the records (a name is unique per workspace); `deployment_slots` holds
the slots live deployments reserve, one row `engine` seeded at 0, updated in the same
transaction as each reservation or release.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneyard.storage.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create deployments and deployment_slots (seeded)."""
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("model", sa.String(512), nullable=False),
        sa.Column("base_model", sa.String(256), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
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
    )
    op.create_index(
        "ix_deployments_workspace_created", "deployments", ["workspace_id", "created_at", "id"]
    )
    op.create_index("ix_deployments_job_id", "deployments", ["job_id"])
    slots = op.create_table(
        "deployment_slots",
        sa.Column("pool", sa.String(32), primary_key=True),
        sa.Column("reserved", sa.Integer(), nullable=False),
    )
    op.bulk_insert(slots, [{"pool": "engine", "reserved": 0}])


def downgrade() -> None:
    """Drop them."""
    op.drop_table("deployment_slots")
    op.drop_index("ix_deployments_job_id", table_name="deployments")
    op.drop_index("ix_deployments_workspace_created", table_name="deployments")
    op.drop_table("deployments")
