"""Keys may be AK/SK pairs (bce-auth-v1): the access key ID and the sealed secret key.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add api_keys.access_key (unique) and api_keys.secret_sealed."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("access_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("secret_sealed", sa.Text(), nullable=True))
        batch.create_unique_constraint("uq_api_keys_access_key", ["access_key"])


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("uq_api_keys_access_key", type_="unique")
        batch.drop_column("secret_sealed")
        batch.drop_column("access_key")
