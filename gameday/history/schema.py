"""The history's tables (SQLAlchemy Core); the migrations in ``migrations/versions`` create them.

Table names carry a ``gameday_`` prefix so that a team can keep its history in a PostgreSQL database that
holds other tables too. Times are seconds (floats); ``started_at`` is a Unix timestamp.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Integer, MetaData, String, Table, Text

VERSION_TABLE = "gameday_history_version"
PHASES = ("inject", "detect", "alert", "diagnose", "resolve", "recover", "verify")

metadata = MetaData()

runs = Table(
    "gameday_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),  # run, smoke, canary
    Column("target", String(64), nullable=False),
    Column("profile", String(128), nullable=False),
    Column("service_version", String(128)),
    Column("gameday_version", String(32)),
    Column("started_at", Float, nullable=False, index=True),
    Column("wall_time_s", Float),
    Column("status", String(16), nullable=False),
    Column("score", Float),
    Column("exit_code", Integer),
    Column("message", Text),
    Column("report", Text),  # where the report directory was (a path), when there is one
)

experiments = Table(
    "gameday_experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), ForeignKey("gameday_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(128), nullable=False, index=True),
    Column("fault", String(64)),
    Column("expects_outage", Boolean),
    Column("verdict", String(16), nullable=False),
    *(Column(f"{phase}_s", Float) for phase in PHASES),
    Column("diagnosis_expected", String(128)),
    Column("diagnosis_actual", String(128)),
    Column("diagnosis_correct", Boolean),
    Column("alert_expected", Boolean),
    Column("alert_fired", Boolean),
    Column("alert_as_expected", Boolean),
    Column("checklist_passed", Integer),
    Column("checklist_total", Integer),
    Column("checklist", JSON),  # [{name, status, measured}]: the figures behind each verdict
    Column("score", Float),  # 0-1, this experiment's points
    Column("weight", Float),  # its severity weight in the run's score
)
