"""The alerting rules of a service, rendered from its profile, and the files generated from them.

``deploy/monitoring/rules/service.rules.yml.tmpl`` is the source of truth: the rules of any service, with the
profile's names in placeholders (the service, its alert names ``alerts.endpoint_down``/``error_ratio``/``latency``,
its SLOs, its dependencies) and one window per rule from a windows file: ``deploy/monitoring/profiles/shipped.yml``
(realistic, staging/production) or ``local.yml`` (the local game day). The local target calls :func:`local_rules`
at ``up`` for whatever profile it runs; for the reference service, ``python -m gameday.alerts_cli write``
regenerates the shipped rules, the local rules and the kube-prometheus-stack ``PrometheusRule`` under
``deploy/monitoring`` (the promtool unit tests read them) and ``check`` exits 1 when any is stale.

The series the rules select (:class:`Selectors`) follow the local target's names: replicas scraped as
``job="<service>"``, blackbox probes labelled ``service="<service>"``, the HAProxy frontend ``<service>-lb``.
The runbook the alerts link to comes in as a :class:`RunbookLink` from the layer that knows runbooks (their
packages sit above the targets, which render these rules at ``up``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from gameday import placeholders
from gameday.profile import Metrics, Profile

MONITORING_DIR = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
TEMPLATE_NAME = "service.rules.yml.tmpl"
# each rule of the template and whether its expression has a rate window ("range") besides its `for:`
WINDOWS: dict[str, bool] = {
    "endpoint_down": True, "error_ratio": True, "latency": True, "dependency_down": False,
    "circuit_breaker_open": False,
}
RANGE_SELECTOR = re.compile(r"\[(\d+(?:ms|[smhdwy]))\]")
_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def monitoring_dir() -> Path:
    """``deploy/monitoring`` of this source tree (gameday runs from its checkout)."""
    if not (MONITORING_DIR / "rules" / TEMPLATE_NAME).exists():
        raise FileNotFoundError(f"alerting rules not found under {MONITORING_DIR} (run gameday from its source tree)")
    return MONITORING_DIR


def rules_name(profile: Profile) -> str:
    """``<service>.rules.yml``: the rules file of a service."""
    return f"{profile.service.name}.rules.yml"


def rules_path(profile: Profile) -> Path:
    """The generated shipped (realistic windows) rules file of a service."""
    return monitoring_dir() / "rules" / rules_name(profile)


def local_rules_path(profile: Profile) -> Path:
    """The generated local-windows rules file of a service."""
    return monitoring_dir() / "rules" / "local" / rules_name(profile)


def prometheusrule_path() -> Path:
    """The generated PrometheusRule manifest (of the reference service)."""
    return monitoring_dir() / "prometheusrule.yaml"


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration such as ``1m30s``, ``500ms`` or ``15s``."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """A Prometheus duration for a number of seconds (whole seconds, or milliseconds when needed)."""
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {seconds}")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


def alert_rules(rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alerting rules of a rules document, by alert name."""
    return {r["alert"]: r for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r}


@dataclass(frozen=True)
class RunbookLink:
    """The runbook an alert's annotations point the on-call to: its title and where its text is (relative to this
    source tree when it is in it). The runbook package builds it (``Runbook.alert_link``)."""

    title: str
    url: str


# --- what the rules select ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Selectors:
    """The series selectors of a service's rules; the game day's own Prometheus queries use the same ones."""

    probes: str
    lb_responses: str
    lb_5xx: str
    service_requests: str
    service_5xx: str
    service_buckets: str
    api_routes: str  # the route label matcher of the service's API (not its probe and metrics routes)
    dependencies: str  # a regular expression matching the profile's dependency names

    @classmethod
    def of(cls, profile: Profile) -> Selectors:
        """The selectors of ``profile``'s service."""
        name = profile.service.name
        metrics = profile.service.metrics or Metrics()  # no metrics: the rules' service series stay empty
        routes = f'{metrics.route_label}!~"{_promql_regex(profile.service.own_paths)}"'
        job = f'job="{name}", {routes}'
        lb = f'proxy="{name}-lb"'
        return cls(
            probes=f'probe_success{{service="{name}"}}',
            lb_responses=f"haproxy_frontend_http_responses_total{{{lb}}}",
            lb_5xx=f'haproxy_frontend_http_responses_total{{{lb}, code="5xx"}}',
            service_requests=f"{metrics.requests}{{{job}}}",
            service_5xx=f'{metrics.requests}{{{job}, {metrics.status_label}=~"5.."}}',
            service_buckets=f"{metrics.duration}_bucket{{{job}}}",
            api_routes=routes,
            dependencies=_promql_regex(d.name for d in profile.dependencies) or "$^",
        )


def _promql_regex(literals: Any) -> str:
    """An alternation matching exactly these strings, escaped for RE2 inside a PromQL double-quoted string."""
    return "|".join(re.escape(text) for text in literals).replace("\\", "\\\\")


# --- rendering ------------------------------------------------------------------------------------------
def load_windows(path: Path, min_range_seconds: float = 0.0) -> dict[str, dict[str, str]]:
    """Each rule's ``for`` and (where its expression has one) rate ``range``, from a windows file.

    A range shorter than ``min_range_seconds`` is raised to it (a rate needs several scrapes in its window). Every
    rule of the template must be there, and nothing else.
    """
    windows = load_yaml(path).get("windows")
    if not isinstance(windows, dict):
        raise ValueError(f"{path}: expected a mapping 'windows'")
    if missing := sorted(set(WINDOWS) - set(windows)):
        raise ValueError(f"{path}: no windows for {', '.join(missing)}")
    if unknown := sorted(set(windows) - set(WINDOWS)):
        raise ValueError(f"{path}: windows for unknown rules: {', '.join(unknown)} (known: {', '.join(WINDOWS)})")
    out: dict[str, dict[str, str]] = {}
    for rule, has_range in WINDOWS.items():
        given = windows[rule] or {}
        if "for" not in given or (has_range and "range" not in given):
            raise ValueError(f"{path}: {rule} needs 'for'" + (" and 'range'" if has_range else ""))
        out[rule] = {"for": str(given["for"])}
        parse_duration(out[rule]["for"])
        if has_range:
            rng = str(given["range"])
            short = parse_duration(rng) < min_range_seconds
            out[rule]["range"] = format_duration(min_range_seconds) if short else rng
    return out


def render_rules(profile: Profile, windows: dict[str, dict[str, str]], link: RunbookLink) -> dict[str, Any]:
    """The rules document of ``profile``'s service with these windows, its alerts linking to ``link``."""
    values: dict[str, Any] = {
        "service": profile.service.name,
        "runbook": link.title,
        "runbook_url": link.url,
        "slo.max_error_rate": f"{profile.slo.max_error_rate:g}",
        "slo.max_error_percent": f"{profile.slo.max_error_rate * 100:g}",
        "slo.p95_ms": f"{profile.slo.p95_ms:g}",
        "slo.p95_seconds": f"{profile.slo.p95_ms / 1000:g}",
        **{f"alerts.{k}": v for k, v in profile.alerts.model_dump(exclude={"rules"}).items()},
        **{f"select.{k}": v for k, v in asdict(Selectors.of(profile)).items()},
        **{f"{rule}.{key}": value for rule, given in windows.items() for key, value in given.items()},
    }
    text = placeholders.render((monitoring_dir() / "rules" / TEMPLATE_NAME).read_text(), values)
    return yaml.safe_load(text)


def local_rules(profile: Profile, link: RunbookLink, min_range_seconds: float = 0.0) -> str:
    """The rules the local target's Prometheus evaluates for ``profile``'s service: the profile's own rules file
    (``alerts.rules``) as it is, else the template with the local game-day windows.

    Raises ``OSError`` (a file that cannot be read) or ``ValueError`` (a bad windows file).
    """
    if profile.alerts.rules:
        return (profile.directory / profile.alerts.rules).read_text()
    windows = load_windows(monitoring_dir() / "profiles" / "local.yml", min_range_seconds)
    return dump_yaml(
        render_rules(profile, windows, link),
        f"GENERATED by gameday from deploy/monitoring/rules/{TEMPLATE_NAME}, the profile of {profile.service.name}\n"
        "and the local game-day windows of deploy/monitoring/profiles/local.yml. Do not edit.",
    )


def prometheus_rule(
    rules: dict[str, Any], profile: Profile, release: str = "kube-prometheus-stack"
) -> dict[str, Any]:
    """The rules as a ``monitoring.coreos.com/v1`` PrometheusRule in the profile's namespace.

    kube-prometheus-stack's default ``ruleSelector`` picks PrometheusRules labelled ``release: <helm release>``.
    """
    name = profile.service.name
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": profile.kubernetes.namespace if profile.kubernetes else "production",
            "labels": {"app": name, "release": release},
        },
        "spec": {"groups": copy.deepcopy(rules["groups"])},
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as ``|`` blocks, keys in their original order."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _str_representer)


def dump_yaml(data: Any, header: str = "") -> str:
    """YAML text, PromQL kept readable, with ``header`` lines as comments on top."""
    body = yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=120)
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return lines + body


def generated_files(profile: Profile, link: RunbookLink) -> dict[Path, str]:
    """Each file generated for ``profile``'s service under deploy/monitoring, and the text it must have."""
    shipped = render_rules(profile, load_windows(monitoring_dir() / "profiles" / "shipped.yml"), link)
    source = f"rules/{TEMPLATE_NAME} and the profile of {profile.service.name}"
    regenerate = "Do not edit:\nedit those and run `python -m gameday.alerts_cli write`."
    return {
        rules_path(profile): dump_yaml(
            shipped, f"GENERATED from {source}\nwith the windows of profiles/shipped.yml. {regenerate}"),
        local_rules_path(profile): dump_yaml(
            render_rules(profile, load_windows(monitoring_dir() / "profiles" / "local.yml"), link),
            f"GENERATED from {source}\nwith the local game-day windows of profiles/local.yml. {regenerate}"),
        prometheusrule_path(): dump_yaml(
            prometheus_rule(shipped, profile),
            f"GENERATED from {source}\nwith the windows of profiles/shipped.yml. {regenerate}\n"
            "Install with kube-prometheus-stack: kubectl apply -f this."),
    }

