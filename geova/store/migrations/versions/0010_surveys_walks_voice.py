"""field surveys, exploratory walks, residents' voice

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import geova.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC = geova.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "survey_grid",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("definition", sa.JSON(), nullable=False),
    )
    op.create_table(
        "survey_norm",
        sa.Column("code", sa.String(96), primary_key=True),
        sa.Column("definition", sa.JSON(), nullable=False),
    )
    op.create_table(
        "survey_campaign",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("grid_code", sa.String(64), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("ends", sa.Date(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("allocation", sa.JSON(), nullable=True),
        sa.Column("example", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
    )
    op.create_table(
        "survey_transect",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("survey_campaign.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("quarter_code", sa.String(64), nullable=False),
        sa.Column("zone_kind", sa.String(64), nullable=False),
        sa.Column("zone_code", sa.String(64), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.UniqueConstraint("campaign_id", "position", name="uq_transect_position"),
    )
    op.create_index("ix_survey_transect_campaign_id", "survey_transect", ["campaign_id"])
    op.create_table(
        "survey_entry",
        sa.Column("entry_id", sa.String(36), primary_key=True),
        sa.Column(
            "transect_id",
            sa.Integer(),
            sa.ForeignKey("survey_transect.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("grades", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("photo", sa.String(64), nullable=True),
        sa.Column("surveyor", sa.String(64), nullable=True),
        sa.Column("graded_at", UTC, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
    )
    op.create_index("ix_survey_entry_transect_id", "survey_entry", ["transect_id"])
    op.create_table(
        "walk_observation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("walk", sa.String(128), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("category_code", sa.String(64), sa.ForeignKey("category.code"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(64), nullable=True),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column(
            "intervention_id",
            sa.Integer(),
            sa.ForeignKey("intervention.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.create_index("ix_walk_observation_walk", "walk_observation", ["walk"])
    op.create_table(
        "voice_campaign",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("quarter_code", sa.String(64), nullable=True),
        sa.Column("zone_code", sa.String(64), nullable=True),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("ends", sa.Date(), nullable=False),
        sa.Column("example", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "voice_answer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("voice_campaign.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("respondent", sa.String(64), nullable=False),
        sa.Column("quarter_code", sa.String(64), nullable=True),
        sa.Column("zone_code", sa.String(64), nullable=True),
        sa.Column("cleanliness", sa.Integer(), nullable=True),
        sa.Column("safety", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", UTC, nullable=False),
        sa.UniqueConstraint("campaign_id", "respondent", name="uq_voice_respondent"),
    )
    op.create_index("ix_voice_answer_campaign_id", "voice_answer", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_voice_answer_campaign_id", "voice_answer")
    op.drop_table("voice_answer")
    op.drop_table("voice_campaign")
    op.drop_index("ix_walk_observation_walk", "walk_observation")
    op.drop_table("walk_observation")
    op.drop_index("ix_survey_entry_transect_id", "survey_entry")
    op.drop_table("survey_entry")
    op.drop_index("ix_survey_transect_campaign_id", "survey_transect")
    op.drop_table("survey_transect")
    op.drop_table("survey_campaign")
    op.drop_table("survey_norm")
    op.drop_table("survey_grid")
