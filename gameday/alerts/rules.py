"""The alerting rules of deploy/monitoring and the files generated from them.

``deploy/monitoring/rules/ecommerce-backend.rules.yml`` is the source of truth. From it come the
kube-prometheus-stack ``PrometheusRule`` (``deploy/monitoring/prometheusrule.yaml``) and the local game-day
profile (``deploy/monitoring/rules/local/ecommerce-backend.rules.yml``: the same expressions with the windows of
``deploy/monitoring/profiles/local.yml``). ``python -m gameday.alerts.rules write`` regenerates both;
``python -m gameday.alerts.rules check`` exits 1 when either is stale.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

MONITORING_DIR = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES_NAME = "ecommerce-backend.rules.yml"
RANGE_SELECTOR = re.compile(r"\[(\d+(?:ms|[smhdwy]))\]")
_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def monitoring_dir() -> Path:
    """``deploy/monitoring`` of this source tree (gameday runs from its checkout)."""
    if not (MONITORING_DIR / "rules" / RULES_NAME).exists():
        raise FileNotFoundError(f"alerting rules not found under {MONITORING_DIR} (run gameday from its source tree)")
    return MONITORING_DIR


def rules_path() -> Path:
    """The source rules file."""
    return monitoring_dir() / "rules" / RULES_NAME


def local_rules_path() -> Path:
    """The generated local-profile rules file."""
    return monitoring_dir() / "rules" / "local" / RULES_NAME


def prometheusrule_path() -> Path:
    """The generated PrometheusRule manifest."""
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


def apply_profile(rules: dict[str, Any], profile: dict[str, Any], min_range_seconds: float = 0.0) -> dict[str, Any]:
    """The rules with each alert's ``for:`` and rate windows replaced by the profile's.

    ``profile["alerts"][NAME]`` has ``for`` and optionally ``range``; every range selector ``[..]`` in that
    alert's expression becomes ``[range]``, raised to ``min_range_seconds`` if shorter (a rate needs several
    scrapes in its window). Every alert must be in the profile, and the profile must name no other alert.
    """
    windows: dict[str, dict[str, str]] = profile.get("alerts", {})
    out = copy.deepcopy(rules)
    found = alert_rules(out)
    if missing := sorted(set(found) - set(windows)):
        raise ValueError(f"profile has no windows for {', '.join(missing)}")
    if unknown := sorted(set(windows) - set(found)):
        raise ValueError(f"profile names unknown alerts: {', '.join(unknown)}")
    for name, rule in found.items():
        w = windows[name]
        rule["for"] = w["for"]
        if "range" in w:
            rng = format_duration(max(parse_duration(w["range"]), min_range_seconds))
            rule["expr"] = RANGE_SELECTOR.sub(f"[{rng}]", rule["expr"])
        elif RANGE_SELECTOR.search(rule["expr"]):
            raise ValueError(f"profile gives {name} no range but its expression has one")
    return out


def prometheus_rule(
    rules: dict[str, Any], name: str = "ecommerce-backend", namespace: str = "production",
    release: str = "kube-prometheus-stack",
) -> dict[str, Any]:
    """The rules as a ``monitoring.coreos.com/v1`` PrometheusRule.

    kube-prometheus-stack's default ``ruleSelector`` picks PrometheusRules labelled ``release: <helm release>``.
    """
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "ecommerce-backend", "release": release},
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


def render_local_rules(min_range_seconds: float = 0.0) -> str:
    """The text of the local-profile rules file."""
    profile = load_yaml(monitoring_dir() / "profiles" / "local.yml")
    rules = apply_profile(load_yaml(rules_path()), profile, min_range_seconds)
    return dump_yaml(
        rules,
        "GENERATED by `python -m gameday.alerts.rules write` from ../ecommerce-backend.rules.yml and\n"
        "../../profiles/local.yml (the local game-day windows). Do not edit: edit those and regenerate.",
    )


def render_prometheus_rule() -> str:
    """The text of the PrometheusRule manifest."""
    return dump_yaml(
        prometheus_rule(load_yaml(rules_path())),
        "GENERATED by `python -m gameday.alerts.rules write` from rules/ecommerce-backend.rules.yml.\n"
        "Do not edit: edit that file and regenerate. Install with kube-prometheus-stack: kubectl apply -f this.",
    )


def generated_files() -> dict[Path, str]:
    """Each generated file and the text it must have."""
    return {local_rules_path(): render_local_rules(), prometheusrule_path(): render_prometheus_rule()}


def main(argv: list[str] | None = None) -> int:
    """``write`` the generated files, or ``check`` that they are up to date."""
    parser = argparse.ArgumentParser(prog="python -m gameday.alerts.rules", description=__doc__)
    parser.add_argument("action", choices=["write", "check"])
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.action == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
        else:
            stale.append(path)
    for path in stale:
        print(f"stale: {path} (run python -m gameday.alerts.rules write)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
