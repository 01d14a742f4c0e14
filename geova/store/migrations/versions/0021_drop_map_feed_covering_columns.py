"""the map feed's covering columns go: its clusters are counted in the replica (PostgreSQL)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 13:00:00

Migration 0017 made two indexes hold what the map feed's SQL count read, so that the count read no
table row: the quarter index also held each request's id and point, the verdict's primary key the
dates a state is judged on. Since Session 11 the feed's clusters are counted in the columnar
replica (geova.store.verdict_replica.Replica.cells) and no query reads those columns from the
indexes any more: after every page and feed of bench/city_bench.py and every request of
bench/hostile_bench.py at a million requests, the quarter index served only counts and pages of a
quarter's requests by its key, and the primary key only lookups of a few rows by request id.
Both go back to their key alone, as before 0017: the quarter index from 82 to 39 MB, the primary
key from 140 to 84 MB at a million requests; a first import writes 850 MB of WAL instead of 923
and takes 0.7 s less, and every write has less to update (bench/README.md, Session 12).

PostgreSQL only: SQLite has no ``INCLUDE``, and its indexes never held those columns.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _rebuild(covering=False)


def downgrade() -> None:
    _rebuild(covering=True)


def _rebuild(covering: bool) -> None:
    """Both indexes with their key alone, or (``covering``) also holding what 0017 added."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_intervention_quarter_category_reported", "intervention")
    op.create_index(
        "ix_intervention_quarter_category_reported",
        "intervention",
        ["quarter_id", "category_code", "reported_at"],
        postgresql_include=["id", "geom"] if covering else [],
    )
    include = " INCLUDE (reported_at, due_at, resolved_at)" if covering else ""
    op.execute(
        "ALTER TABLE verdict DROP CONSTRAINT verdict_pkey, "
        f"ADD CONSTRAINT verdict_pkey PRIMARY KEY (intervention_id, norm_code){include}"
    )
