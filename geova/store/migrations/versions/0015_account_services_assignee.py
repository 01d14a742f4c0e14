"""service accounts' services and requests' assignees

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:00:00

Issue 10, point 3: a service account is linked to one or more of the referential's services
(``account_service``), whose open requests its worklist lists by default; a request may be assigned
to an agent (``intervention_assignee``, one row per assigned request, the account's username).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import geova.store.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_service",
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("service_code", sa.String(64), primary_key=True),
    )
    op.create_table(
        "intervention_assignee",
        sa.Column(
            "intervention_id",
            sa.Integer(),
            sa.ForeignKey("intervention.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("assignee", sa.String(64), nullable=False),
        sa.Column("assigned_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_intervention_assignee_assignee", "intervention_assignee", ["assignee"])


def downgrade() -> None:
    op.drop_index("ix_intervention_assignee_assignee", "intervention_assignee")
    op.drop_table("intervention_assignee")
    op.drop_table("account_service")
