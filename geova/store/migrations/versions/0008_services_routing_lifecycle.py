"""services, routing rules and the request life cycle

Revision ID: 0008
Revises: 0012
Create Date: 2026-11-30 09:00:00

The referential's services and routing rules get tables of their own. Requests imports stored as
``open`` become ``new``, the first step of the life cycle (geova.core.lifecycle); ``closed``,
``duplicate`` and ``cancelled`` keep their meaning. The triggers of revision 0006 queue the changed
requests, whose verdicts are recomputed when the upgrade's transaction settles.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("label_fr", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=True),
        sa.Column("quarter_code", sa.String(64), nullable=True),
        sa.Column("zone_kind", sa.String(64), nullable=True),
        sa.Column("zone_code", sa.String(64), nullable=True),
    )
    op.create_index("ix_routing_rule_origin", "routing_rule", ["origin"])
    op.execute("UPDATE intervention SET status = 'new' WHERE status = 'open'")
    # the referential's services and rules are loaded with it: force the next load
    op.execute("DELETE FROM setting WHERE key = 'referential_sha256'")


def downgrade() -> None:
    op.execute(
        "UPDATE intervention SET status = 'open' WHERE status IN ('new', 'acknowledged', 'in_progress')"
    )
    op.execute("UPDATE intervention SET status = 'closed' WHERE status IN ('resolved', 'rejected')")
    op.drop_index("ix_routing_rule_origin", "routing_rule")
    op.drop_table("routing_rule")
    op.drop_table("service")
