"""The history store: open (and migrate) a SQLite file or a PostgreSQL database, write runs, read them back.

Opening runs Alembic's migrations to the newest revision (``migrations/``), so an old history is upgraded
in place and never recreated. A database that is not a gameday history (another application's SQLite
file, a corrupt or empty file, tables of ours without a version), or whose schema is newer than this gameday, is
refused with one line (:class:`HistoryError`, exit 2) and left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from gameday.config import Settings
from gameday.errors import UsageError
from gameday.history.records import ExperimentRecord, RunRecord
from gameday.history.schema import VERSION_TABLE, experiments, runs

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 5


class HistoryError(UsageError):
    """The history cannot be opened, read or written: one line, exit 2."""


def history_url(settings: Settings) -> str:
    """``history.url``, or ``history.db`` in the state directory."""
    return settings.history.url or f"sqlite:///{Path(settings.state_dir).resolve() / 'history.db'}"


@dataclass(frozen=True)
class RunFilter:
    """Which runs to read: all by default."""

    kind: str | None = None
    target: str | None = None
    profile: str | None = None
    experiment: str | None = None
    last: int | None = None
    before: float | None = None  # started strictly before this time (the baseline of a run)
    exclude: str | None = None  # a run id left out (the run being judged)


class HistoryStore:
    """One open history; use :func:`open_store`."""

    def __init__(self, engine: Engine, shown_url: str) -> None:
        self.engine = engine
        self.shown_url = shown_url

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    @contextmanager
    def _connect(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise HistoryError(f"history {self.shown_url}: cannot {what}: {_reason(exc)}") from exc

    # --- writes ---------------------------------------------------------------------------------
    def record(self, run: RunRecord, replace: bool = True) -> bool:
        """Write one run and its experiments (one transaction); False when it was there and not replaced."""
        with self._connect("write the run") as conn:
            there = conn.execute(select(runs.c.id).where(runs.c.id == run.id)).first() is not None
            if there and not replace:
                return False
            if there:
                conn.execute(delete(experiments).where(experiments.c.run_id == run.id))
                conn.execute(delete(runs).where(runs.c.id == run.id))
            conn.execute(insert(runs).values(**run.row()))
            if run.experiments:
                conn.execute(insert(experiments), [e.row(run.id) for e in run.experiments])
        return True

    # --- reads ----------------------------------------------------------------------------------
    def runs(self, where: RunFilter | None = None) -> list[RunRecord]:
        """Runs, oldest first (the newest ``last`` of them when asked), with their experiments."""
        where = where or RunFilter()
        query = select(runs).order_by(runs.c.started_at.desc())
        for column, value in (("kind", where.kind), ("target", where.target), ("profile", where.profile)):
            if value is not None:
                query = query.where(runs.c[column] == value)
        if where.before is not None:
            query = query.where(runs.c.started_at < where.before)
        if where.exclude is not None:
            query = query.where(runs.c.id != where.exclude)
        if where.experiment is not None:
            having = select(experiments.c.run_id).where(experiments.c.name == where.experiment)
            query = query.where(runs.c.id.in_(having))
        if where.last is not None:
            query = query.limit(where.last)
        with self._connect("read the runs") as conn:
            rows = list(conn.execute(query).mappings())
            ids = [r["id"] for r in rows]
            exp_rows = list(conn.execute(select(experiments).where(experiments.c.run_id.in_(ids))
                                         .order_by(experiments.c.id)).mappings()) if ids else []
        by_run: dict[str, list[ExperimentRecord]] = {}
        for e in exp_rows:
            by_run.setdefault(e["run_id"], []).append(ExperimentRecord.from_row(e))
        return [RunRecord.from_row(r, by_run.get(r["id"], [])) for r in reversed(rows)]

    def phase_history(self, target: str, profile: str, before: float | None = None, exclude: str | None = None,
                      last: int = 30) -> dict[str, dict[str, list[float]]]:
        """Each experiment's phase times in the last ``last`` game days that ran it and passed, oldest first."""
        past = self.runs(RunFilter(kind="run", target=target, profile=profile, before=before, exclude=exclude))
        out: dict[str, dict[str, list[float]]] = {}
        for run in past:
            for exp in run.experiments:
                if exp.verdict != "passed":
                    continue
                for phase, value in exp.phases.items():
                    if value is not None:
                        out.setdefault(exp.name, {}).setdefault(phase, []).append(value)
        return {name: {phase: values[-last:] for phase, values in phases.items()} for name, phases in out.items()}

    def get(self, run_id: str) -> RunRecord:
        """One run by its id or an unambiguous prefix of it."""
        with self._connect("read the runs") as conn:
            ids = [r[0] for r in conn.execute(select(runs.c.id).where(runs.c.id.startswith(run_id, autoescape=True)))]
        exact = [i for i in ids if i == run_id]
        if not ids:
            raise HistoryError(f"no run {run_id!r} in the history ({self.shown_url}); 'gameday runs' lists them")
        if len(ids) > 1 and not exact:
            raise HistoryError(f"run id {run_id!r} is ambiguous: {', '.join(sorted(ids)[:5])}")
        chosen = exact[0] if exact else ids[0]
        with self._connect("read the run") as conn:
            row = conn.execute(select(runs).where(runs.c.id == chosen)).mappings().one()
            exps = conn.execute(select(experiments).where(experiments.c.run_id == chosen)
                                .order_by(experiments.c.id)).mappings()
            return RunRecord.from_row(row, [ExperimentRecord.from_row(e) for e in exps])


def open_store(url: str) -> HistoryStore:
    """Connect, refuse what is not a gameday history, migrate to the newest schema."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise HistoryError(f"bad history.url: {exc}") from exc
    shown = parsed.render_as_string(hide_password=True)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 (installed), not psycopg2
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    elif parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _refuse_empty(Path(parsed.database).expanduser(), shown)
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args["timeout"] = 15  # another writer (a parallel game day) holds the lock: wait, then fail
    else:
        raise HistoryError(f"history.url {shown}: only sqlite:/// and postgresql:// are supported")
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise HistoryError(f"history {shown}: {exc}") from exc
    store = HistoryStore(engine, shown)
    try:
        with store._connect("open the history") as conn:
            _refuse_foreign(conn, shown)
            migrate(conn)
    except BaseException:
        store.close()
        raise
    return store


def migrate(conn: Connection) -> None:
    """Upgrade the schema to the newest revision, refusing one newer than this gameday knows."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    scripts = ScriptDirectory.from_config(config)
    current = schema_revision(conn)
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        raise HistoryError(f"the history's schema (revision {current}) is newer than this gameday: upgrade gameday")
    command.upgrade(config, "head")


def schema_revision(conn: Connection) -> str | None:
    """The schema revision the database is at (None: not a history yet)."""
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _refuse_empty(path: Path, shown: str) -> None:
    """An existing empty file is not a history gameday made (it writes a new one's tables as soon as it creates
    it): it may be a history truncated by a full disk or a bad copy, so it is refused, never re-initialised."""
    try:
        empty = path.is_file() and path.stat().st_size == 0
    except OSError:
        return  # unreadable: connecting says why
    if empty:
        raise HistoryError(f"{shown} is an empty file: not a gameday history (a truncated one?), left as is; "
                           "remove it to start a new history")


def _refuse_foreign(conn: Connection, shown: str) -> None:
    tables = set(inspect(conn).get_table_names())
    ours = {runs.name, experiments.name}
    if VERSION_TABLE in tables:
        return
    clash = sorted(tables & ours)
    if clash:
        raise HistoryError(f"{shown} has {', '.join(clash)} but no schema version: not a gameday history, left as is")
    if conn.dialect.name == "sqlite" and tables:
        listed = ", ".join(sorted(tables)[:4])
        raise HistoryError(f"{shown} is another application's database (tables: {listed}): not a gameday history, "
                           "left as is")


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
