"""verdicts maintained at every write

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 05:30:00

One row per request and deadline norm (``verdict``), the queue of requests to recompute
(``verdict_stale``, filled by triggers so that no write path can forget one) and the fingerprints of
the norms the rows were computed from (``verdict_norm``). The rows themselves are computed by
geova.store.verdicts when the upgrade's own transaction settles (an empty ``verdict_norm`` means
every norm is new).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# SQLite has row triggers only; each keeps one queue row per request.
SQLITE_TRIGGERS = (
    ("verdict_stale_iv_insert", "AFTER INSERT ON intervention", "NEW.id"),
    ("verdict_stale_iv_update", "AFTER UPDATE ON intervention", "NEW.id"),
    ("verdict_stale_iv_delete", "AFTER DELETE ON intervention", "OLD.id"),
    ("verdict_stale_iz_insert", "AFTER INSERT ON intervention_zone", "NEW.intervention_id"),
    ("verdict_stale_iz_delete", "AFTER DELETE ON intervention_zone", "OLD.intervention_id"),
)
# PostgreSQL: statement triggers over transition tables, one set-based insert per statement (a row
# trigger would cost a function call per row of a million-row COPY).
POSTGRES_TRIGGERS = (
    ("verdict_stale_iv_insert", "INSERT", "intervention", "NEW TABLE AS changed", "id"),
    ("verdict_stale_iv_update", "UPDATE", "intervention", "NEW TABLE AS changed", "id"),
    ("verdict_stale_iv_delete", "DELETE", "intervention", "OLD TABLE AS changed", "id"),
    ("verdict_stale_iz_insert", "INSERT", "intervention_zone", "NEW TABLE AS changed", "intervention_id"),
    ("verdict_stale_iz_delete", "DELETE", "intervention_zone", "OLD TABLE AS changed", "intervention_id"),
)


def upgrade() -> None:
    op.create_table(
        "verdict",
        # no foreign key (a referential check per row of a million-row COPY): a deleted request is
        # queued by its trigger and settling removes its rows
        sa.Column("intervention_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("norm_code", sa.String(96), primary_key=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("target_hours", sa.Float(), nullable=True),
        sa.Column("applied", sa.Text(), nullable=False),
        sa.Column("hours_taken", sa.Float(), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("quarter", sa.String(64), nullable=True),
        sa.Column("subquarter", sa.String(64), nullable=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("service", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("month", sa.String(7), nullable=False),
    )
    op.create_index("ix_verdict_norm_reported", "verdict", ["norm_code", "reported_at"])
    op.create_index("ix_verdict_norm_quarter", "verdict", ["norm_code", "quarter", "reported_at"])
    op.create_index("ix_verdict_norm_due", "verdict", ["norm_code", "due_at"])
    op.create_index("ix_intervention_reported", "intervention", ["reported_at"])
    op.create_index("ix_intervention_service", "intervention", ["service"])
    op.create_table("verdict_stale", sa.Column("intervention_id", sa.Integer(), primary_key=True))
    op.create_table(
        "verdict_norm",
        sa.Column("norm_code", sa.String(96), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    op.create_table(
        "verdict_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(16), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=True),
        sa.Column("norm_code", sa.String(96), nullable=True),
        sa.Column("everything", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_verdict_log_version", "verdict_log", ["version"])
    if op.get_bind().dialect.name == "postgresql":
        for name, event, table, transition, column in POSTGRES_TRIGGERS:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"INSERT INTO verdict_stale (intervention_id) SELECT DISTINCT {column} FROM changed "
                "ON CONFLICT DO NOTHING; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    else:
        for name, when, value in SQLITE_TRIGGERS:
            # not INSERT OR IGNORE: when a foreign key's action (a quarter deleted, its requests'
            # quarter set to NULL) fires the trigger, the outer statement's conflict policy
            # (ABORT) overrides the trigger's own, and a request queued twice would fail the delete
            op.execute(
                f"CREATE TRIGGER {name} {when} BEGIN "
                f"INSERT INTO verdict_stale (intervention_id) SELECT {value} WHERE NOT EXISTS "
                f"(SELECT 1 FROM verdict_stale WHERE intervention_id = {value}); END"
            )
    # every request already stored is judged when this upgrade's transaction settles
    op.execute("INSERT INTO verdict_stale (intervention_id) SELECT id FROM intervention")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _event, table, _transition, _column in POSTGRES_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name, _when, _value in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_verdict_log_version", "verdict_log")
    op.drop_table("verdict_log")
    op.drop_table("verdict_norm")
    op.drop_index("ix_intervention_service", "intervention")
    op.drop_index("ix_intervention_reported", "intervention")
    op.drop_table("verdict_stale")
    op.drop_index("ix_verdict_norm_due", "verdict")
    op.drop_index("ix_verdict_norm_quarter", "verdict")
    op.drop_index("ix_verdict_norm_reported", "verdict")
    op.drop_table("verdict")
