"""covering indexes for the requests' map feed (PostgreSQL)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 13:00:00

The map feed of a quarter (geova.store.verdict_reads.cells: the requests of a quarter's categories
and period in a box, each with its state under one norm) read, at a million requests on PostGIS,
the 34,000 points' rows from 22,000 scattered pages of the request table (the import order is not
spatial), then each point's verdict row from the verdict table: 0.29 s of SQL. Both reads now come
from indexes alone (index-only scans): the quarter index also holds the request's id and location,
and the verdict's primary key (request, norm) also holds the dates its state is judged on. Both
replace an index of the same key rather than add one (built afresh at a million requests, the
primary key grows from 84 to 140 MB, the quarter index from 39 to 82 MB). The same query then
takes 0.16-0.19 s (bench/README.md, "Session 5: map feed").

PostgreSQL only: SQLite has no ``INCLUDE``; there both indexes stay as they were.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # the same key as before, holding the id and the point: a quarter's requests from the index alone
    op.drop_index("ix_intervention_quarter_category_reported", "intervention")
    op.create_index(
        "ix_intervention_quarter_category_reported",
        "intervention",
        ["quarter_id", "category_code", "reported_at"],
        postgresql_include=["id", "geom"],
    )
    op.execute(
        "ALTER TABLE verdict DROP CONSTRAINT verdict_pkey, ADD CONSTRAINT verdict_pkey "
        "PRIMARY KEY (intervention_id, norm_code) INCLUDE (reported_at, due_at, resolved_at)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE verdict DROP CONSTRAINT verdict_pkey, "
        "ADD CONSTRAINT verdict_pkey PRIMARY KEY (intervention_id, norm_code)"
    )
    op.drop_index("ix_intervention_quarter_category_reported", "intervention")
    op.create_index(
        "ix_intervention_quarter_category_reported",
        "intervention",
        ["quarter_id", "category_code", "reported_at"],
    )
