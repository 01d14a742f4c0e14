"""economic figures of the priority commercial zones

Revision ID: 0013
Revises: 0008
Create Date: 2026-11-30 09:40:00

Issue 12, point 5: per commercial zone and month, the vacancy rate of shop premises, the number
of businesses and the footfall (``zone_economy``), shown against the zone's on-time rate.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import geova.store.types

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zone_economy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("zone_code", sa.String(64), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("indicator", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("recorded_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("zone_code", "period", "indicator", name="uq_zone_economy"),
    )


def downgrade() -> None:
    op.drop_table("zone_economy")
