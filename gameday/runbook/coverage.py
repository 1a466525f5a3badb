"""``gameday coverage``: every line of the runbook's operational sections, with what checks it.

The mapping is data: a YAML file in the runbook's package (``service-outage.coverage.yml``) gives each line
an id (``diagnosis:pods``), optional other tag ids that also cover it, optional checks that are not
tagged scenarios (``covered_by``), a ``note`` on what those checks leave out, or ``not_automatable: <why>``.
The scenarios and experiments that check a line say so with tags (``@runbook:diagnosis:pods``, see
:mod:`gameday.runbook.tags`).
A runbook line the file does not name is "unmapped"; an entry whose text is no longer in the
runbook is "stale" — both are reported, so the file and the runbook cannot drift apart silently.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gameday.errors import UsageError
from gameday.runbook.package import owning
from gameday.runbook.parse import Runbook, RunbookLine
from gameday.runbook.tags import Claim

COVERED_SECTIONS: tuple[str, ...] = ("symptoms", "impact", "detection", "diagnosis", "resolution", "verification",
                                     "prevention", "escalation")
COVERED, NOT_AUTOMATABLE, NOT_COVERED, UNMAPPED = "covered", "not-automatable", "not-covered", "unmapped"


@dataclass
class MappingEntry:
    """One id of the mapping file and the runbook line(s) it names."""

    id: str
    texts: list[str]
    under: str = ""  # part of the sub-heading, to tell apart identical lines (two ``rollout restart``)
    tags: list[str] = field(default_factory=list)  # other ids whose tags also cover it
    covered_by: list[str] = field(default_factory=list)
    not_automatable: str = ""
    note: str = ""  # what the covering checks leave out, said honestly


@dataclass
class CoverageLine:
    """One runbook line and what checks it."""

    id: str
    section: str
    line: int
    kind: str
    text: str
    status: str  # covered | not-automatable | not-covered | unmapped
    covered_by: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class CoverageReport:
    """The whole coverage of one runbook."""

    runbook: str
    mapping: str
    lines: list[CoverageLine]
    unknown_tags: list[Claim] = field(default_factory=list)  # tags naming no id of the mapping
    stale: list[str] = field(default_factory=list)  # mapping entries whose text the runbook no longer has

    def count(self, status: str) -> int:
        """How many lines have a status."""
        return sum(1 for ln in self.lines if ln.status == status)

    @property
    def automatable(self) -> int:
        """Lines that are not marked not automatable."""
        return len(self.lines) - self.count(NOT_AUTOMATABLE)

    @property
    def percent(self) -> float:
        """Covered lines out of the automatable ones (100 when there are none)."""
        return 100.0 * self.count(COVERED) / self.automatable if self.automatable else 100.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "runbook": self.runbook,
            "mapping": self.mapping,
            "percent": round(self.percent, 1),
            "covered": self.count(COVERED),
            "automatable": self.automatable,
            "not_automatable": self.count(NOT_AUTOMATABLE),
            "not_covered": self.count(NOT_COVERED),
            "unmapped": self.count(UNMAPPED),
            "total": len(self.lines),
            "lines": [asdict(ln) for ln in self.lines],
            "unknown_tags": [asdict(c) for c in self.unknown_tags],
            "stale": self.stale,
        }


def normalise(text: str) -> str:
    """Whitespace collapsed, for matching a mapping's text with the runbook's."""
    return re.sub(r"\s+", " ", text).strip()


def default_mapping_path(runbook_path: Path) -> Path:
    """The coverage map of the runbook's package; outside a package ``<name>.md`` → ``<name>.coverage.yml`` beside it.

    A link to a package's markdown (``docs/runbooks/service-outage.md``) finds the package it points into.
    """
    package = owning(runbook_path)
    if package is not None and package.markdown.resolve() == Path(runbook_path).resolve():
        return package.coverage
    return runbook_path.with_name(runbook_path.stem + ".coverage.yml")


def load_mapping(path: Path) -> list[MappingEntry]:
    """Read the mapping file; any malformed part is one clear UsageError."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"coverage mapping not found: {path} (give one with --mapping)") from None
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read coverage mapping {path}: {str(exc).splitlines()[0]}") from None
    items = data.get("lines") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UsageError(f"{path}: expected a mapping with a 'lines' list")
    entries: list[MappingEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not item.get("id"):
            raise UsageError(f"{path}: entry {i} has no id")
        rid = str(item["id"])
        if rid in seen:
            raise UsageError(f"{path}: id {rid!r} appears twice")
        seen.add(rid)
        texts = item.get("texts") or ([item["text"]] if item.get("text") else [])
        if not texts or not all(isinstance(t, str) for t in texts):
            raise UsageError(f"{path}: entry {rid!r} needs 'text' or 'texts' (the runbook line as written)")
        entries.append(
            MappingEntry(
                id=rid,
                texts=[normalise(t) for t in texts],
                under=str(item.get("under") or ""),
                tags=[str(t) for t in item.get("tags") or []],
                covered_by=[str(c) for c in item.get("covered_by") or []],
                not_automatable=str(item.get("not_automatable") or ""),
                note=str(item.get("note") or ""),
            )
        )
    return entries


def _match(line: RunbookLine, entries: list[MappingEntry], used: set[tuple[str, str]]) -> MappingEntry | None:
    """The entry naming this line: same text, right section, and ``under`` when several could."""
    text = normalise(line.text)
    candidates = [e for e in entries if text in e.texts and e.id.split(":", 1)[0] == line.section]
    if len(candidates) > 1:
        narrowed = [e for e in candidates if e.under and e.under in line.subsection]
        candidates = narrowed or [e for e in candidates if not e.under] or candidates
    fresh = [e for e in candidates if (e.id, text) not in used]
    chosen = (fresh or candidates or [None])[0]
    if chosen is not None:
        used.add((chosen.id, text))
    return chosen


def coverage(runbook: Runbook, entries: list[MappingEntry], claims: list[Claim], mapping: str = "") -> CoverageReport:
    """Every line of the covered sections with its id, status and what covers it."""
    by_id: dict[str, list[str]] = {}
    for claim in claims:
        by_id.setdefault(claim.runbook_id, []).append(claim.source)
    known_ids = {e.id for e in entries} | {t for e in entries for t in e.tags}
    used: set[tuple[str, str]] = set()
    lines: list[CoverageLine] = []
    for line in runbook.lines:
        if line.section not in COVERED_SECTIONS:
            continue
        entry = _match(line, entries, used)
        if entry is None:
            lines.append(CoverageLine("", line.section, line.line, line.kind, line.text, UNMAPPED,
                                      reason="not named in the coverage mapping"))
            continue
        sources = [*entry.covered_by]
        for rid in (entry.id, *entry.tags):
            sources += [s for s in by_id.get(rid, []) if s not in sources]
        if entry.not_automatable and not sources:
            status, reason = NOT_AUTOMATABLE, entry.not_automatable
        else:
            status, reason = (COVERED if sources else NOT_COVERED), entry.note
        lines.append(CoverageLine(entry.id, line.section, line.line, line.kind, line.text, status, sources, reason))
    matched_texts = {(ln.id, normalise(ln.text)) for ln in lines}
    stale = [f"{e.id}: {t}" for e in entries for t in e.texts if (e.id, t) not in matched_texts]
    unknown = [c for c in claims if c.explicit and c.runbook_id not in known_ids]
    return CoverageReport(str(runbook.path), mapping, lines, unknown, stale)
