"""session version of accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:02:41.118520
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing accounts start at version 0; sessions issued before this migration carry no version
    # and are refused, so everyone logs in once more after the upgrade.
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
