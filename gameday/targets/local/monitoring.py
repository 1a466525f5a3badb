"""Monitoring of the local target: Prometheus, Alertmanager, the blackbox exporter and gameday's alert receiver.

``programs(ctx)`` writes their configuration into ``<state>/monitoring/`` and returns the four programs:

- ``alert-receiver``: ``python -m gameday.alerts.receiver``, appending each alert to ``received_alerts_path()``;
- ``alertmanager``: routes every alert to the receiver at once (group_wait/group_interval 1s, resolutions too);
- ``blackbox``: probes the load balancer on :func:`probe_paths` of the profile (its health path and the probe
  endpoints that need nothing it survives without) for Prometheus, labelled ``service=<service>``;
- ``prometheus``: scrapes the replicas (``job=<service>``, on the profile's metrics path), HAProxy's exporter and
  the probes every ``scrape_interval`` and evaluates the rules :func:`gameday.alerts.rules.local_rules` renders for
  the profile (the local game-day windows of ``deploy/monitoring/profiles/local.yml``), linking to ``ctx.runbook``.

The ports come from ``ctx.ports`` under the keys of ``PORT_KEYS`` (plus ``load-balancer`` and ``haproxy-metrics``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import jinja2

from gameday import placeholders
from gameday.alerts import rules as alert_rules
from gameday.profile import Profile
from gameday.state import StateDir
from gameday.targets.local.programs import Program, StackContext
from gameday.targets.model import TargetError

PORT_KEYS = ("prometheus", "alertmanager", "blackbox", "alert-receiver")
# the blackbox exporter ends a probe this long before Prometheus's scrape timeout (its default, 0.5 s, would leave
# a 1 s probe 0.5 s: no more than the prober's latency SLO, where a loaded machine's slow answer is not an outage)
PROBE_TIMEOUT_OFFSET_S = 0.1
PRIORITY = 600  # after the stack (dependencies 100, replicas 300, load balancer 400): no start-up noise
REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("gameday.targets.local", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def monitoring_dir(state: StateDir) -> Path:
    """Where the monitoring configuration and data live."""
    return state.subdir("monitoring")


def received_alerts_path(state: StateDir) -> Path:
    """The JSON-lines file gameday's receiver appends every alert notification to."""
    return monitoring_dir(state) / "received-alerts.jsonl"


def prometheus_url(ctx: StackContext) -> str:
    """Prometheus's base URL."""
    return f"http://127.0.0.1:{ctx.ports['prometheus']}"


def alertmanager_url(ctx: StackContext) -> str:
    """Alertmanager's base URL."""
    return f"http://127.0.0.1:{ctx.ports['alertmanager']}"


def receiver_url(ctx: StackContext) -> str:
    """The receiver's base URL (``/alerts``, ``/healthz``)."""
    return f"http://127.0.0.1:{ctx.ports['alert-receiver']}"


def probe_paths(profile: Profile) -> list[str]:
    """What the blackbox exporter probes through the load balancer: the health path and the probe endpoints.

    Only GETs without placeholders that answer 2xx when healthy (the exporter's module accepts any 2xx), and only
    those that need no dependency the service survives without: a degraded service still serves, and must not
    page as down.
    """
    critical = set(profile.critical())
    paths = [profile.service.health_path]
    for endpoint in profile.probe_endpoints():
        if (endpoint.method == "GET" and not list(placeholders.names(endpoint.path))
                and 200 <= endpoint.expect.status < 300 and set(profile.needs(endpoint)) <= critical
                and endpoint.path not in paths):
            paths.insert(len(paths) - 1, endpoint.path)
    return paths


def probe_urls(ctx: StackContext) -> list[str]:
    """What the blackbox exporter probes: :func:`probe_paths` through the load balancer."""
    return [f"http://127.0.0.1:{ctx.ports['load-balancer']}{path}" for path in probe_paths(ctx.profile)]


def _binary(*names: str, package: str) -> str:
    for name in names:
        if found := shutil.which(name):
            return found
    raise TargetError(f"{names[0]} not found: install the Debian package {package} (make install does it)")


def _write_atomic(path: Path, text: str) -> None:
    """Replace a file in one rename (Prometheus watches its target files)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    Path(tmp).chmod(0o644)
    os.replace(tmp, path)


def write_replica_targets(ctx: StackContext) -> Path:
    """Write the replicas' scrape targets (Prometheus file SD); call again whenever the replica set changes."""
    targets = [
        {"targets": [address], "labels": {"service": ctx.profile.service.name, "replica": name}}
        for name, address in zip(ctx.replica_names, ctx.replica_addresses, strict=True)
    ]
    path = monitoring_dir(ctx.state) / "targets" / "replicas.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(targets, indent=2) + "\n")
    return path


def metrics_auth(profile: Profile, folder: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The scrape's credentials for ``service.metrics.auth``: the password or token written to a file only its
    owner reads (mode 0600) that the configuration names (``password_file``, ``credentials_file``), never into the
    configuration's text; the user name, which Prometheus 2.42 reads from the text only, is in it. Empty: none."""
    auth = profile.service.metrics.auth if profile.service.metrics else None
    if auth is None:
        return {}
    environ = os.environ if environ is None else environ

    def value(field: str, text: str) -> str:
        try:
            return placeholders.render(text, lambda name: placeholders.env_value(
                name.removeprefix(placeholders.ENV_PREFIX), environ))
        except placeholders.MissingPlaceholder as exc:
            raise TargetError(f"service.metrics.auth.{field}: {exc}: set the environment variable") from None

    if auth.password is not None:
        field, secret, key, file_name = "password", auth.password, "password_file", "metrics-password"
    else:
        field, secret, key, file_name = "bearer_token", auth.bearer_token or "", "credentials_file", "metrics-token"
    rendered = value(field, secret)
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / file_name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(rendered)
    path.chmod(0o600)  # a file left by an older stack keeps its mode through O_TRUNC
    out = {key: str(path)}
    if auth.username is not None:
        out["username"] = value("username", auth.username)
    return out


def _check(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip())[-400:]
        raise TargetError(f"{what} invalid: {detail}")


def write_configs(ctx: StackContext, scrape_interval: str = "1s", probe_interval: str = "1s") -> dict[str, Path]:
    """Render prometheus.yml, alertmanager.yml, blackbox.yml and the local rules; check them when the tools exist.

    Returns the paths by name (``prometheus``, ``alertmanager``, ``blackbox``, ``rules``, ``replica_targets``).
    """
    if missing := [k for k in (*PORT_KEYS, "load-balancer", "haproxy-metrics") if k not in ctx.ports]:
        raise TargetError(f"monitoring needs ports for: {', '.join(missing)}")
    scrape_s = alert_rules.parse_duration(scrape_interval)
    # a probe waits (and so is sent no more often than) the service's own latency objective, its p95: a heavy
    # service's page queued behind others in a synchronous worker answers in over a second while within its SLO,
    # and a probe that gave up sooner paged it as down; 500 ms objectives keep the 1 s probe
    probe_s = max(alert_rules.parse_duration(probe_interval), scrape_s, ctx.profile.slo.p95_ms / 1000)
    base = monitoring_dir(ctx.state)
    # A fresh stack starts on empty monitoring data: Prometheus writes no staleness markers when it stops (the
    # old stack's series would stay current for 5 minutes) and Alertmanager's notification log would hold back
    # an alert that fires again; the receiver's file would mix two stacks' alerts.
    for data in ("prometheus-data", "alertmanager-data"):
        shutil.rmtree(base / data, ignore_errors=True)
    received_alerts_path(ctx.state).unlink(missing_ok=True)
    rules_dir = base / "rules"
    rules_dir.mkdir(exist_ok=True)
    paths = {
        "prometheus": base / "prometheus.yml",
        "alertmanager": base / "alertmanager.yml",
        "blackbox": base / "blackbox.yml",
        "rules": rules_dir / alert_rules.rules_name(ctx.profile),
        "replica_targets": write_replica_targets(ctx),
    }
    for stale in rules_dir.glob("*.yml"):  # another service's rules, from an earlier stack
        stale.unlink()
    try:
        rules_text = alert_rules.local_rules(ctx.profile, ctx.runbook, min_range_seconds=4 * scrape_s)
    except (OSError, ValueError) as exc:
        raise TargetError(f"alerting rules: {exc}") from exc
    _write_atomic(paths["rules"], rules_text)
    _write_atomic(
        paths["prometheus"],
        TEMPLATES.get_template("monitoring/prometheus.yml.j2").render(
            scrape_interval=alert_rules.format_duration(scrape_s),
            probe_interval=alert_rules.format_duration(probe_s),
            rules_dir=str(rules_dir),
            replica_targets_file=str(paths["replica_targets"]),
            probe_urls=probe_urls(ctx),
            service=ctx.profile.service.name,
            metrics_path=ctx.profile.service.metrics.path if ctx.profile.service.metrics else None,
            metrics_auth=metrics_auth(ctx.profile, base / "secrets"),
            prometheus_port=ctx.ports["prometheus"],
            alertmanager_port=ctx.ports["alertmanager"],
            blackbox_port=ctx.ports["blackbox"],
            haproxy_metrics_port=ctx.ports["haproxy-metrics"],
        ),
    )
    _write_atomic(
        paths["alertmanager"],
        TEMPLATES.get_template("monitoring/alertmanager.yml.j2").render(
            receiver_port=ctx.ports["alert-receiver"], group_wait="1s", group_interval="1s"
        ),
    )
    _write_atomic(
        paths["blackbox"],
        TEMPLATES.get_template("monitoring/blackbox.yml.j2").render(probe_timeout=alert_rules.format_duration(probe_s)),
    )
    if promtool := shutil.which("promtool"):
        _check([promtool, "check", "config", str(paths["prometheus"])], "Prometheus configuration")
    if amtool := shutil.which("amtool"):
        _check([amtool, "check-config", str(paths["alertmanager"])], "Alertmanager configuration")
    return paths


def programs(ctx: StackContext, scrape_interval: str = "1s", probe_interval: str = "1s") -> list[Program]:
    """The monitoring programs of the local target, their configuration written into ``<state>/monitoring``.

    ``scrape_interval`` is also the rule evaluation interval; ``probe_interval`` is how often the blackbox
    exporter probes the load balancer (at least ``scrape_interval``; a probe may take up to that minus
    ``PROBE_TIMEOUT_OFFSET_S``). Probing as often as Prometheus evaluates keeps the endpoint-down alert's lag
    beyond its ``for:`` to about one interval: an outage seen by a probe every 3 s paged 1.5 s later on average.
    """
    paths = write_configs(ctx, scrape_interval, probe_interval)
    base = monitoring_dir(ctx.state)
    prometheus = _binary("prometheus", package="prometheus")
    alertmanager = _binary("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")
    blackbox = _binary("prometheus-blackbox-exporter", "blackbox_exporter", package="prometheus-blackbox-exporter")
    _check([blackbox, f"--config.file={paths['blackbox']}", "--config.check"], "blackbox exporter configuration")
    ports = {key: ctx.ports[key] for key in PORT_KEYS}
    return [
        Program(
            name="alert-receiver",
            kind="alert-receiver",
            command=[
                ctx.python, "-m", "gameday.alerts.receiver",
                "--port", str(ports["alert-receiver"]), "--file", str(received_alerts_path(ctx.state)),
            ],
            port=ports["alert-receiver"],
            readiness="http:/healthz",
            environment={"PYTHONUNBUFFERED": "1"},
            directory=str(REPO_ROOT),
            priority=PRIORITY,
        ),
        Program(
            name="alertmanager",
            kind="alertmanager",
            command=[
                alertmanager,
                f"--config.file={paths['alertmanager']}",
                f"--storage.path={base / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                f"--web.external-url=http://127.0.0.1:{ports['alertmanager']}",
                "--cluster.listen-address=",
            ],
            port=ports["alertmanager"],
            readiness="http:/-/ready",
            priority=PRIORITY + 1,
        ),
        Program(
            name="blackbox",
            kind="blackbox-exporter",
            command=[
                blackbox,
                f"--config.file={paths['blackbox']}",
                f"--web.listen-address=127.0.0.1:{ports['blackbox']}",
                f"--timeout-offset={PROBE_TIMEOUT_OFFSET_S}",
            ],
            port=ports["blackbox"],
            readiness="http:/-/healthy",
            priority=PRIORITY + 1,
        ),
        Program(
            name="prometheus",
            kind="prometheus",
            command=[
                prometheus,
                f"--config.file={paths['prometheus']}",
                f"--storage.tsdb.path={base / 'prometheus-data'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                f"--web.external-url=http://127.0.0.1:{ports['prometheus']}",
                "--web.enable-lifecycle",
            ],
            port=ports["prometheus"],
            readiness="http:/-/ready",
            stopwaitsecs=15,
            priority=PRIORITY + 2,
        ),
    ]
