"""A tuned model can be deleted while its job stays (OpenAI's `DELETE /v1/models/{model}`):
`jobs.model_deleted_at`.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tuneyard.storage.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add jobs.model_deleted_at (NULL: the model is live)."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("model_deleted_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("model_deleted_at")
