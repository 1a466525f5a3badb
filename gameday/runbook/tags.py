"""Which scenarios and experiments claim to check which runbook line: ``@runbook:<section>:<item>`` tags.

Sources: Gherkin feature files (tags on a Feature, Rule, Scenario, Scenario Outline or its Examples;
English and zh-TW keywords) and chaostoolkit experiments (``tags`` entries ``runbook:<id>`` and a
``runbook`` field holding one id or a list of ids), JSON or YAML. An experiment's plain tag that reads
like an id (``resolution:rollout-undo``: a runbook section, a colon, an item) is a claim too, but an
implicit one: when it names no line of the mapping it is ignored rather than reported as unknown.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gameday.runbook.parse import SECTIONS

TAG_PREFIX = "runbook:"

_KEYWORDS = {
    "feature": ("Feature", "Business Need", "Ability", "功能"),
    "rule": ("Rule", "規則", "规则"),
    "outline": ("Scenario Outline", "Scenario Template", "場景大綱", "劇本大綱", "场景大纲", "剧本大纲"),
    "scenario": ("Scenario", "Example", "場景", "劇本", "场景", "剧本"),
    "examples": ("Examples", "Scenarios", "例子"),
    "background": ("Background", "背景"),
}
_KEYWORD_LINE = [
    (kind, re.compile(rf"^\s*{re.escape(word)}\s*[:：]\s*(?P<name>.*)$"))
    for kind, words in _KEYWORDS.items()
    for word in sorted(words, key=len, reverse=True)
]


@dataclass(frozen=True)
class Claim:
    """A scenario or experiment that says it checks a runbook line."""

    runbook_id: str  # ``diagnosis:pods``
    source: str  # ``features/diagnosis.feature:12 場景: ...`` or ``experiments/kill.json: title``
    explicit: bool = True  # said with ``runbook:``; False for an experiment's plain ``section:item`` tag


def runbook_id(tag: str) -> str | None:
    """``@runbook:diagnosis:pods`` → ``diagnosis:pods``; None for other tags."""
    tag = tag.strip().lstrip("@")
    if not tag.lower().startswith(TAG_PREFIX):
        return None
    value = tag[len(TAG_PREFIX):].strip()
    return value or None


def feature_claims(path: Path, shown: str | None = None) -> list[Claim]:
    """Claims of one feature file: each tagged scenario (feature and rule tags are inherited)."""
    shown = shown or str(path)
    feature_tags: list[str] = []
    rule_tags: list[str] = []
    pending: list[str] = []
    claims: list[Claim] = []
    current: tuple[str, list[str]] | None = None  # (scenario label, its tags) for Examples tags

    def claim(tags: list[str], label: str) -> None:
        for tag in tags:
            rid = runbook_id(tag)
            if rid:
                claims.append(Claim(rid, label))

    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            pending += [w for w in line.split("#", 1)[0].split() if w.startswith("@")]
            continue
        kind, name = _keyword(line)
        if kind == "feature":
            feature_tags, pending = pending, []
        elif kind == "rule":
            rule_tags, pending = pending, []
        elif kind in ("scenario", "outline"):
            label = f"{shown}:{number} {name}".rstrip()
            current = (label, [*feature_tags, *rule_tags, *pending])
            claim(current[1], label)
            pending = []
        elif kind == "examples" and current is not None:
            claim([t for t in pending if t not in current[1]], current[0])
            pending = []
        elif kind == "background":
            pending = []
    return _unique(claims)


def _keyword(line: str) -> tuple[str, str]:
    for kind, pattern in _KEYWORD_LINE:
        match = pattern.match(line)
        if match:
            return kind, match.group("name").strip()
    return "", ""


def experiment_claims(path: Path, shown: str | None = None) -> list[Claim]:
    """Claims of one chaostoolkit experiment (JSON or YAML): its ``tags`` and ``runbook`` fields."""
    shown = shown or str(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError):
        return []
    if not isinstance(data, dict):
        return []
    label = f"{shown}: {data.get('title', path.stem)}"
    claims: list[Claim] = []
    for tag in data.get("tags") or []:
        rid = runbook_id(str(tag))
        if rid:
            claims.append(Claim(rid, label))
        elif str(tag).split(":", 1)[0] in SECTIONS and ":" in str(tag):
            claims.append(Claim(str(tag), label, explicit=False))
    field = data.get("runbook")
    for value in field if isinstance(field, list) else [field] if field else []:
        rid = runbook_id(str(value)) if str(value).lstrip("@").lower().startswith(TAG_PREFIX) else str(value).strip()
        if rid:
            claims.append(Claim(rid, label))
    return _unique(claims)


def collect_claims(features_dir: Path | None, experiments_dir: Path | None, root: Path | None = None) -> list[Claim]:
    """Every claim of the feature files and experiments under the given directories."""
    claims: list[Claim] = []

    def shown(p: Path) -> str:
        try:
            return str(p.relative_to(root)) if root else str(p)
        except ValueError:
            return str(p)

    if features_dir and features_dir.is_dir():
        for path in sorted(features_dir.rglob("*.feature")):
            claims += feature_claims(path, shown(path))
    if experiments_dir and experiments_dir.is_dir():
        for path in sorted(experiments_dir.rglob("*")):
            if path.suffix in (".json", ".yaml", ".yml") and path.is_file():
                claims += experiment_claims(path, shown(path))
    return claims


def _unique(claims: list[Claim]) -> list[Claim]:
    seen: set[Claim] = set()
    out = []
    for c in claims:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out
