"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:49:26.509327
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

import geova.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "field_of_action",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label_fr", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("started_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_table(
        "quarter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=128), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["quarter.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("quarter", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_quarter_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )

    op.create_table(
        "setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_geospatial_table(
        "zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("layer", sa.String(length=128), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("zone", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_zone_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_zone_kind"), ["kind"], unique=False)

    op.create_table(
        "standard_task",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("field_code", sa.String(length=64), nullable=False),
        sa.Column("label_fr", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_code"],
            ["field_of_action.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "category",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label_fr", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("task_code", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_code"],
            ["standard_task.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_geospatial_table(
        "intervention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=False),
        sa.Column("source_category", sa.Text(), nullable=True),
        sa.Column("reported_at", geova.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", geova.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", geova.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("insulting", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=True),
        sa.Column("service", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("quarter_id", sa.Integer(), nullable=True),
        sa.Column("subquarter_id", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["category.code"],
        ),
        sa.ForeignKeyConstraint(["import_id"], ["import_run.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["quarter_id"], ["quarter.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subquarter_id"], ["quarter.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_id", name="uq_intervention_source"),
    )
    with op.batch_alter_table("intervention", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_intervention_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(
            "ix_intervention_category_reported", ["category_code", "reported_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_intervention_quarter_id"), ["quarter_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_intervention_status"), ["status"], unique=False)

    op.create_table(
        "intervention_flag",
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["intervention.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("intervention_id", "code"),
    )
    with op.batch_alter_table("intervention_flag", schema=None) as batch_op:
        batch_op.create_index("ix_intervention_flag_code", ["code"], unique=False)

    op.create_table(
        "intervention_zone",
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["intervention.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["zone_id"], ["zone.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("intervention_id", "zone_id"),
    )
    with op.batch_alter_table("intervention_zone", schema=None) as batch_op:
        batch_op.create_index("ix_intervention_zone_zone", ["zone_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("intervention_zone", schema=None) as batch_op:
        batch_op.drop_index("ix_intervention_zone_zone")

    op.drop_table("intervention_zone")
    with op.batch_alter_table("intervention_flag", schema=None) as batch_op:
        batch_op.drop_index("ix_intervention_flag_code")

    op.drop_table("intervention_flag")
    with op.batch_alter_table("intervention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intervention_status"))
        batch_op.drop_index(batch_op.f("ix_intervention_quarter_id"))
        batch_op.drop_index("ix_intervention_category_reported")
        batch_op.drop_geospatial_index("idx_intervention_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("intervention")
    op.drop_table("category")
    op.drop_table("standard_task")
    with op.batch_alter_table("zone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zone_kind"))
        batch_op.drop_geospatial_index("idx_zone_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("zone")
    op.drop_table("setting")
    with op.batch_alter_table("quarter", schema=None) as batch_op:
        batch_op.drop_geospatial_index("idx_quarter_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("quarter")
    op.drop_table("import_run")
    op.drop_table("field_of_action")
