"""Runs and their experiments.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PHASES = ("inject", "detect", "alert", "diagnose", "resolve", "recover", "verify")


def upgrade() -> None:
    op.create_table(
        "gameday_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("profile", sa.String(128), nullable=False),
        sa.Column("service_version", sa.String(128)),
        sa.Column("gameday_version", sa.String(32)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("wall_time_s", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("exit_code", sa.Integer),
        sa.Column("message", sa.Text),
        sa.Column("report", sa.Text),
    )
    op.create_index("ix_gameday_runs_started_at", "gameday_runs", ["started_at"])
    op.create_table(
        "gameday_experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("gameday_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("fault", sa.String(64)),
        sa.Column("expects_outage", sa.Boolean),
        sa.Column("verdict", sa.String(16), nullable=False),
        *(sa.Column(f"{phase}_s", sa.Float) for phase in PHASES),
        sa.Column("diagnosis_expected", sa.String(128)),
        sa.Column("diagnosis_actual", sa.String(128)),
        sa.Column("diagnosis_correct", sa.Boolean),
        sa.Column("alert_expected", sa.Boolean),
        sa.Column("alert_fired", sa.Boolean),
        sa.Column("alert_as_expected", sa.Boolean),
        sa.Column("checklist_passed", sa.Integer),
        sa.Column("checklist_total", sa.Integer),
        sa.Column("checklist", sa.JSON),
        sa.Column("score", sa.Float),
        sa.Column("weight", sa.Float),
    )
    op.create_index("ix_gameday_experiments_run_id", "gameday_experiments", ["run_id"])
    op.create_index("ix_gameday_experiments_name", "gameday_experiments", ["name"])


def downgrade() -> None:
    op.drop_table("gameday_experiments")
    op.drop_table("gameday_runs")
