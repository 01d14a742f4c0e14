"""the request indexes no page reads: by quarter alone, by status

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 23:50:00

After every page and feed of bench/city_bench.py at a million requests on PostGIS,
``pg_stat_user_indexes`` counted 0 scans of ``ix_intervention_quarter_id`` and of
``ix_intervention_status``. The first is the first column of
``ix_intervention_quarter_category_reported`` (quarter_id, category_code, reported_at), which serves
every lookup by quarter alone (a B-tree is read by any prefix of its key), the foreign key's
``ON DELETE SET NULL`` included. A status is shared by a tenth to nine tenths of the requests, so
no plan reads them through an index: Open311's status filter walks the report-date index, most
recent first, and stops at a page. Rebuilding both took 1.2 s of a first import of a million
requests on PostGIS and 2.1 s on SpatiaLite, and every write to the request table updated them.

Tried in Session 7 and taken back: on SQLite, without the quarter index, the map feed's requests
came in another order (the query had none). geova.store.verdict_reads.points now orders them by id.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_intervention_quarter_id", "intervention")
    op.drop_index("ix_intervention_status", "intervention")


def downgrade() -> None:
    op.create_index("ix_intervention_status", "intervention", ["status"])
    op.create_index("ix_intervention_quarter_id", "intervention", ["quarter_id"])
