"""the verdict indexes no page reads

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 23:30:00

Since the verdicts' replica (geova.store.verdict_replica) counts every aggregate, three of the
verdict table's indexes are read by no page: after every page and feed of bench/city_bench.py at a
million requests on PostGIS, ``pg_stat_user_indexes`` counted 0 scans of ``ix_verdict_norm_due``,
``ix_verdict_norm_reported`` and ``ix_verdict_norm_quarter``, against 207,258 of the primary key,
24 of ``ix_verdict_open_due`` and 12 of ``ix_verdict_norm_resolved`` (the worklist). Building them
took 5.1 s of a 48 s first import of a million requests (2.2 million verdicts), and every web write
updated them. A norm's rows (a referential change recomputes a norm whole) are still found by
``ix_verdict_norm_resolved``, whose key starts with the norm.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_verdict_norm_due", "verdict")
    op.drop_index("ix_verdict_norm_reported", "verdict")
    op.drop_index("ix_verdict_norm_quarter", "verdict")


def downgrade() -> None:
    op.create_index("ix_verdict_norm_reported", "verdict", ["norm_code", "reported_at"])
    op.create_index("ix_verdict_norm_quarter", "verdict", ["norm_code", "quarter", "reported_at"])
    op.create_index("ix_verdict_norm_due", "verdict", ["norm_code", "due_at"])
