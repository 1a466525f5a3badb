"""rotate-credentials: the service's PostgreSQL password changed on the server; new connections fail authentication.

The local target's PostgreSQL trusts every connection (``initdb --auth=trust``), so a password alone would change
nothing: the fault makes PostgreSQL ask TCP clients for their password (``scram-sha-256`` in ``pg_hba.conf``, the
Unix socket left trusted for the faults' own session) and gives the service's user a new random password that
nobody keeps. Sessions already open stay open (PostgreSQL checks a password only when a session starts); every new
connection the service opens gets ``password authentication failed for user ...``. With ``drop_sessions`` (the
default) the service's open sessions are ended as well, as connection recycling would, so it must log in again.

Undo puts back ``pg_hba.conf`` as it was (its text is in the ledger: it holds no secret) and the user's password as
it was. The old password's stored verifier is credential material, so it never goes into the ledger: it is kept in a
file only its owner reads (mode 0600) in the state directory until the undo, then removed.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import sql
from pydantic import Field

from gameday.faults.base import DependencyFault, DependencyParams, Params
from gameday.runbooks.database_connection_issues import AUTHENTICATION_FAILED
from gameday.runbooks.database_connection_issues.faults.postgres import (
    admin,
    end_sessions,
    files,
    postgres_only,
    wait_for_new_connection,
)

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target

MARK = "# gameday rotate-credentials: TCP clients must give their password"
UNDO_TIMEOUT_S = 30.0


class RotateParams(DependencyParams):
    dependency: str = Field("postgres", description="the PostgreSQL dependency of the profile")
    drop_sessions: bool = Field(True, description="end the service's open sessions too, so it must log in again "
                                "(as a pooler restart or connection recycling would); false: only new ones fail")


class RotateCredentials(DependencyFault):
    """The password the service has is no longer the one PostgreSQL expects."""

    name = "rotate-credentials"
    description = "change the service's PostgreSQL password on the server (new connections fail authentication)"
    Params: ClassVar[type[Params]] = RotateParams

    def not_applicable(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> str | None:
        return postgres_only(self, params, profile, target_kind)

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return f"{AUTHENTICATION_FAILED.key}:{params['dependency']}"

    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        with admin(target, params["dependency"]) as conn:
            hba_file = str(conn.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
        text = Path(hba_file).read_text()
        if MARK in text:  # a rotation left by a dead run: its own snapshot holds the original
            return {"hba_file": hba_file, "hba": None}
        return {"hba_file": hba_file, "hba": text}

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        dep = params["dependency"]
        secret_file = _secret_file(target, dep)
        with admin(target, dep) as conn:
            user, verifier = conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = current_user").fetchone()  # type: ignore[misc]
            if not secret_file.exists():  # a rotation left by a dead run keeps the first saved password
                _write_private(secret_file, json.dumps({"verifier": verifier}))
            hba_file = Path(str(conn.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
            original = hba_file.read_text()
            if MARK not in original:
                hba_file.write_text(_asking_for_passwords(original))
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(secrets.token_urlsafe(24))))
            conn.execute("SELECT pg_reload_conf()")
            if params.get("drop_sessions", True):
                end_sessions(conn)

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        dep = params["dependency"]
        secret_file = _secret_file(target, dep)
        with admin(target, dep) as conn:
            hba_file = Path(saved.get("hba_file") or str(conn.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
            current = hba_file.read_text()
            if saved.get("hba") is not None:
                hba_file.write_text(saved["hba"])
            elif MARK in current:
                hba_file.write_text(_trusting_again(current))
            if secret_file.exists():
                verifier = json.loads(secret_file.read_text()).get("verifier")
                user = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
                password = sql.Literal(verifier) if verifier else sql.SQL("NULL")
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(user), password))
            conn.execute("SELECT pg_reload_conf()")
        wait_for_new_connection(target, dep, UNDO_TIMEOUT_S)
        secret_file.unlink(missing_ok=True)


def _asking_for_passwords(hba: str) -> str:
    """The TCP ``host`` lines ask for a password; the Unix socket (``local``) stays trusted."""
    lines = [MARK]
    for line in hba.splitlines():
        words = line.split()
        if words and words[0] == "host" and words[-1] == "trust":
            line = line[: line.rstrip().rfind("trust")] + "scram-sha-256"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _trusting_again(hba: str) -> str:
    """Undo :func:`_asking_for_passwords` when no original text was saved (a second rotation after a dead run)."""
    out = []
    for line in hba.splitlines():
        if line == MARK:
            continue
        words = line.split()
        if words and words[0] == "host" and words[-1] == "scram-sha-256":
            line = line[: line.rstrip().rfind("scram-sha-256")] + "trust"
        out.append(line)
    return "\n".join(out) + "\n"


def _secret_file(target: Target, dependency: str) -> Path:
    return files(target, dependency) / f"rotate-credentials-{dependency}.secret"


def _write_private(path: Path, text: str) -> None:
    """A file only its owner reads, written whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
