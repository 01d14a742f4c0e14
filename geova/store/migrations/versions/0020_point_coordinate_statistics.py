"""statistics of the requests' longitudes and latitudes (PostgreSQL)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 07:40:00

A map view selects the requests in a box by ``geom && box`` (the spatial index) and, because the
index's boxes are rounded outwards to 32-bit floats, by ``ST_X(geom) BETWEEN`` and ``ST_Y(geom)
BETWEEN`` for the exact edges (geova.store.records.in_box). PostgreSQL keeps no statistics of
those two expressions, so it guessed that each keeps half a percent of the rows: a whole quarter's
141,494 requests at zoom 13, on a million, were expected to be 2, and every step above them was
costed for two rows (a join by lookups one by one, a sort that spilled to disk). With the statistics
of both expressions, gathered by every ANALYZE (autovacuum's included), the estimate is of the right
order (36,804 and 48,337 in two ANALYZEs). The feed as it was before this revision (each request
joined to its verdict, as a view filtered by state still is) then took 283-287 ms instead of 331 ms
for that quarter, and its zoom-14 view 122-132 instead of 182 ms (bench/README.md, Session 10).

SQLite has no such statistics; its planner does not size sorts by estimates.
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

NAME = "st_intervention_lon_lat"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {NAME} ON (ST_X(geom)), (ST_Y(geom)) FROM intervention")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {NAME}")
