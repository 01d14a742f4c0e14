"""requesters and the mail outbox

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 12:00:00

Issue 10, point 5: the requester's contact (name, e-mail, phone) is kept apart from the request
(``requester``), so that no query of the request tables can leak it; the e-mails sent to them (the
resolution notice and the Dunkerque follow-ups) go through an outbox with retries (``mail_outbox``),
one mail per request and kind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import geova.store.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requester",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "intervention_id",
            sa.Integer(),
            sa.ForeignKey("intervention.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("created_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", geova.store.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "intervention_id",
            sa.Integer(),
            sa.ForeignKey("intervention.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("to_addr", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", geova.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("intervention_id", "kind", name="uq_mail_outbox_kind"),
    )
    op.create_index("ix_mail_outbox_state", "mail_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_state", "mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_table("requester")
