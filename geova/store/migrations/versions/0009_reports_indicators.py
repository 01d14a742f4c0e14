"""reports and indicators

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30 08:40:00

The monthly committee: the referential's measures and indicators (``measure_def``, ``indicator``),
the figures entered per month and quarter (``measure_value``), quarter attributes (population,
street length: ``quarter_attribute``) and published reports, frozen (``report``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import geova.store.types

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measure_def",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("label_fr", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=True),
    )
    op.create_table(
        "indicator",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label_fr", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("formula", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "measure_value",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("measure_code", sa.String(64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("quarter_code", sa.String(64), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("recorded_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=True),
        sa.UniqueConstraint("measure_code", "month", "quarter_code", "service", name="uq_measure_value"),
    )
    op.create_table(
        "quarter_attribute",
        sa.Column("quarter_code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
    )
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title_fr", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("html_fr", sa.Text(), nullable=False),
        sa.Column("html_en", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("published_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Text(), nullable=True),
        sa.UniqueConstraint("scope", "period", "version", name="uq_report_version"),
    )


def downgrade() -> None:
    for table in ("report", "quarter_attribute", "measure_value", "indicator", "measure_def"):
        op.drop_table(table)
