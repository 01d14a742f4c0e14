"""import jobs run in the background

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:40:00

One row per import started from the web app or by ``geova sync``: what to import (kind, stored
file, mapping, layer options), who asked, and the progress the background process writes (phase,
rows done / total, counts, error, rejects file). The page that started it polls this row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import geova.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", geova.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", geova.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rejects_path", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_import_job_source", "import_job", ["source", "id"])


def downgrade() -> None:
    op.drop_index("ix_import_job_source", table_name="import_job")
    op.drop_table("import_job")
