"""The ``gameday`` command: a thin layer over the package; every error is one line and a non-zero exit."""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from gameday.abort import undo_entries, undo_expired
from gameday.canary.cli import register as canary
from gameday.chaos.cli import register as chaos
from gameday.config import Settings, get_settings, use_settings
from gameday.diagnose.cli import register as diagnose
from gameday.errors import GamedayError, UsageError
from gameday.faults import FAULTS, FaultContext, get_fault
from gameday.faults import inject as inject_fault
from gameday.flags import within
from gameday.guard.cli import register as guardrails
from gameday.guard.gate import admit
from gameday.history.cli import register as history_commands
from gameday.ledger import Ledger
from gameday.load.cli import register as load
from gameday.profile_cli import check_runbooks
from gameday.profile_cli import register as service_profile
from gameday.run.cli import register as game_day
from gameday.runbook.cli import register as runbook
from gameday.runbook.package import find as find_runbook
from gameday.targets import get_target, ledger_for
from gameday.targets.local import stack
from gameday.targets.model import TargetError
from gameday.verify.cli import register as smoke

app = typer.Typer(
    help="Chaos game days and post-deploy verification for the Service Outage runbook.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(markup=False, highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that every ``finally`` undoes its fault."""


def _on_sigterm(signum: int, frame: Any) -> NoReturn:
    raise Terminated()


UNDO_COMMANDS = ("abort", "halt")  # they undo faults whatever profile is named: nothing may stop them


@app.callback()
def _global(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option(help="local or kubernetes (default: configuration / TARGET)")] = None,
    context: Annotated[str | None, typer.Option(help="kube context")] = None,
    namespace: Annotated[str | None, typer.Option(help="kube namespace")] = None,
    kubeconfig: Annotated[str | None, typer.Option(help="kubeconfig path")] = None,
    base_url: Annotated[str | None, typer.Option(help="the service's URL on kubernetes")] = None,
    profile: Annotated[str | None, typer.Option(help="the service profile (default: GAMEDAY_PROFILE, ./gameday.yaml, "
                                                     "the reference ecommerce-backend)")] = None,
) -> None:
    """Choose the target and the service; everything else comes from configuration."""
    settings = get_settings()
    kube = {k: v for k, v in (("context", context), ("namespace", namespace), ("kubeconfig", kubeconfig),
                               ("base_url", base_url)) if v}
    update: dict[str, Any] = {}
    if target:
        if target not in ("local", "kubernetes"):
            raise UsageError(f"unknown target {target!r}: expected local or kubernetes")
        update["target"] = target
    if base_url and (target or settings.target) == "local":  # never silently replace a URL the user gave
        raise UsageError(f"--base-url {base_url} applies to the kubernetes target; the local target is always "
                         "reached through its own load balancer (see 'gameday status')")
    if kube:
        update["kubernetes"] = settings.kubernetes.model_copy(update=kube)
    if profile:
        if ctx.invoked_subcommand not in UNDO_COMMANDS and not Path(profile).is_file():  # also where unread
            raise UsageError(f"--profile {profile}: " + ("not a file" if Path(profile).exists() else "no such file"))
        update["profile"] = profile
    if update:
        use_settings(settings.model_copy(update=update))


def _settings() -> Settings:
    return get_settings()


def _ledger() -> Ledger:
    return ledger_for(_settings())  # kubernetes: in the cluster, so any machine with the kubeconfig sees it


@app.command()
def up() -> None:
    """Start the local stack (PostgreSQL, Redis, Kafka broker, replicas, HAProxy, monitoring)."""
    settings = _settings()
    check_runbooks(settings.service)  # refused before anything starts, as a profile's other problems are
    info = stack.up(settings, runbook=find_runbook(settings.service.runbook).alert_link())
    out.print(f"local stack up: load balancer {info['load_balancer_url']} (state: {info['state_dir']})")
    _print_status(get_target(settings).status().to_dict())


@app.command()
def down() -> None:
    """Stop the local stack; nothing is left running."""
    killed = stack.down(_settings())
    note = f" ({len(killed)} leftover processes killed)" if killed else ""
    out.print(f"local stack down{note}")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """Replicas, endpoints, load balancer and dependencies (like kubectl get pods/endpoints/svc)."""
    try:
        target = get_target(_settings())
        target.reachable()
    except TargetError as exc:
        if as_json:  # a script reading stdout gets JSON either way; the exit code and the stderr line stay
            print(json.dumps({"target": _settings().target, "reachable": False, "error": str(exc)}, indent=2))
        raise
    data = {"target": target.name, "reachable": True, **target.status().to_dict()}
    data["ledger"] = [asdict(e) for e in _ledger().entries()]
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
    table = Table("REPLICA", "PHASE", "READY", "RESTARTS", "REVISION", "VERSION", "ADDRESS", title="replicas")
    for r in data["replicas"]:
        table.add_row(r["name"], r["phase"], "1/1" if r["ready"] else "0/1", str(r["restarts"]),
                      str(r["revision"]), str(r["version"]), str(r["address"]))
    out.print(table)
    lb = data["load_balancer"]
    ready = f"{lb['ready_backends']}/{lb['total_backends']}"
    out.print(f"load balancer {lb['url']}: {lb['state']}, {ready} endpoints ready")
    for dep in data["dependencies"]:
        runs_in = f"  container {dep['container']} ({dep['image']})" if dep.get("container") else ""
        out.print(f"  {dep['name']:<9} {dep['state']:<8} {dep['address']}{runs_in}")
    if data.get("components"):
        comp = Table("COMPONENT", "KIND", "PID", "PORT", "STATE", title="components")
        for c in data["components"]:
            comp.add_row(c["name"], c["kind"], str(c["pid"] or "-"), str(c["port"] or "-"), c["state"])
        out.print(comp)
    if proxy := data.get("fault_proxy"):
        out.print(f"fault proxy (Toxiproxy API) {proxy.get('api_url') or proxy.get('error')}, pid {proxy['pid']}")
        for p in proxy["proxies"]:
            toxics = ", ".join(f"{t['name']} ({t['type']})" for t in p["toxics"]) or "no toxics"
            state = "enabled" if p["enabled"] else "DISABLED"
            out.print(f"  {p['name']:<9} {p['listen']} -> {p['upstream']}  {state}, {toxics}", markup=False)


@app.command()
def history() -> None:
    """Rollout history (kubectl rollout history)."""
    for rev in get_target(_settings()).history():
        out.print(f"{rev.number:>4}  {rev.version:<16} {rev.change_cause}")


@app.command()
def events(limit: int = 20) -> None:
    """Recent events, newest last (kubectl get events --sort-by=.lastTimestamp)."""
    within("--limit", limit, 1)
    for e in get_target(_settings()).events(limit):
        when = f"{datetime.fromtimestamp(e.timestamp):%H:%M:%S}"
        out.print(f"{when}  {e.type:<7} {e.reason:<24} {e.object:<32} {e.message}", markup=False, highlight=False)


@app.command()
def logs(replica: Annotated[str | None, typer.Argument()] = None, tail: int = 100) -> None:
    """Replica logs, or a process's beside them: replica-0-worker (kubectl logs deployment/<service> --tail=100)."""
    within("--tail", tail, 1)
    for line in get_target(_settings()).logs(replica, tail):
        print(line)


rollout = typer.Typer(help="Rollout actions (kubectl rollout ...).", no_args_is_help=True)
app.add_typer(rollout, name="rollout")


@rollout.command("restart")
def rollout_restart() -> None:
    """Rolling restart of every replica."""
    rev = get_target(_settings()).rollout_restart(wait=True)
    out.print(f"restarted: revision {rev.number} ({rev.version})")


@rollout.command("undo")
def rollout_undo(to_revision: Annotated[int | None, typer.Option("--to-revision")] = None) -> None:
    """Roll back to the previous revision, or a given one."""
    if to_revision is not None:
        within("--to-revision", to_revision, 1)
    rev = get_target(_settings()).rollout_undo(to_revision, wait=True)
    out.print(f"rolled back: revision {rev.number} ({rev.version})")


def _parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"bad parameter {item!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _fault_lines() -> list[str]:
    """Every registered fault, one line each, then one line per parameter (``gameday faults``, ``inject --help``)."""
    lines = []
    for name in sorted(FAULTS):
        described = FAULTS[name].describe()
        lines.append(f"{name}: {described['description']}")
        for p in described["parameters"]:
            need = ("required" if p["required"] else "optional" if p["default"] is None
                    else f"default {json.dumps(p['default'])}")
            lines.append(f"    -p {p['name']}=...  ({p['type']}, {need}) {p['description']}")
    return lines


@app.command()
def faults(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """Every fault 'gameday inject' and the experiments can apply, with its parameters."""
    if as_json:
        print(json.dumps([FAULTS[name].describe() for name in sorted(FAULTS)], indent=2))
        return
    for line in _fault_lines():
        print(line)


@app.command(epilog="Faults (gameday faults --json for a machine):\n\n" + "\n\n".join(_fault_lines()))
def inject(
    fault: str,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (JSON values allowed)")] = None,
    allow_production: Annotated[bool, typer.Option(help="allow the production namespace")] = False,
) -> None:
    """Inject one fault and leave it (recorded in the ledger; 'gameday abort' undoes it)."""
    params = _parse_params(param or [])  # the fault and its parameters first: bad ones change nothing (exit 2)
    get_fault(fault).validate(params, context=FaultContext(_settings().service, _settings().target))
    if allow_production:
        settings = _settings()
        safety = settings.safety.model_copy(update={"allow_production": True})
        use_settings(settings.model_copy(update={"safety": safety}))
    admit(_settings())  # allowlist from configuration before any network call, then the halt record
    target = get_target(_settings())
    target.reachable()
    entry = inject_fault(target, _ledger(), fault, params, _settings().service)
    out.print(f"injected {entry.describe()}")


@app.command()
def abort(
    expired: Annotated[bool, typer.Option("--expired", help="only faults whose runner stopped renewing them "
                                                             "(the reaper's dead man's switch); live runs untouched")]
    = False,
) -> None:
    """Undo every fault left in the ledger (by a run that was killed)."""
    book = _ledger()
    settings = _settings()
    result = (undo_expired(book, settings=settings) if expired
              else undo_entries(book, book.entries(), reset_network=True, settings=settings))
    for line in result.lines():
        (err if line.startswith("NOT") else out).print(line)
    if result.failed:
        raise GamedayError(f"{len(result.failed)} fault(s) could not be undone; the ledger keeps them")
    if not result.undone and not result.cleared:
        out.print("no expired fault: nothing to undo" if expired else "ledger empty: nothing to undo")


@app.command()
def ledger() -> None:
    """Faults recorded and not yet undone."""
    entries = _ledger().entries()
    for e in entries:
        expiry = "" if e.expires_at is None else (
            f"; owner {e.owner_host} pid {e.owner_pid} run {e.run_id}, "
            + (f"expired {time.time() - e.expires_at:.0f}s ago" if e.expired()
               else f"expires in {e.expires_at - time.time():.0f}s"))
        out.print(e.describe() + expiry, markup=False)
    if not entries:
        out.print("ledger empty")


def _register_commands() -> None:
    """Commands that live next to what they drive."""
    for register in (service_profile, game_day, smoke, canary, load, chaos, diagnose, runbook, history_commands,
                     guardrails):
        register(app)


_register_commands()


def _usage_line(exc: typer.TyperException) -> str:
    """Typer's own parse error (a type, an unknown option, a missing argument) as one line naming the command,
    ``gameday run: --users: ...``, like every other bad input, instead of the usage text and a boxed message."""
    names, ctx = [], getattr(exc, "ctx", None)
    while ctx is not None and ctx.parent is not None:  # the root's own name may be "python -m gameday"
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    param = getattr(exc, "param", None)
    if isinstance(exc, typer.BadParameter) and param is not None and param.param_type_name == "option":
        message = f"{max(param.opts, key=len)}: {exc.message}"
    else:
        message = exc.format_message()
    return f"{' '.join(['gameday', *reversed(names)])}: {' '.join(message.split())}"


def main() -> None:
    """Entry point: one line and a non-zero exit for every known failure, never a traceback."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(standalone_mode=False)  # typer's parse errors come here too; typer.Exit(n) returns n
    except typer.TyperException as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # (a bare group: typer has printed its help already)
            err.print(_usage_line(exc))
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("gameday: aborted")
        sys.exit(1)
    except (GamedayError, TargetError) as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            err.print(f"gameday: {line}")
        sys.exit(getattr(exc, "exit_code", 1))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        err.print(f"gameday: bad configuration: {where}: {first['msg']}")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("gameday: interrupted; faults of this run were undone")
        sys.exit(130)
    except Terminated:
        err.print("gameday: terminated; faults of this run were undone")
        sys.exit(143)
    except Exception as exc:  # an unexpected failure still gets one line
        err.print(f"gameday: unexpected error: {type(exc).__name__}: {exc}")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
