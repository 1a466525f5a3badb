"""Read a runbook in the team's markdown format into sections, items and commands.

The format is the Service Outage runbook's: ``## Section`` headings (Symptoms, Detection, Diagnosis,
Resolution, Verification, Prevention, Escalation ...), ``###``/``####`` sub-headings, list items
(``-``, ``1.``, ``- [ ]``) and fenced ``bash`` blocks whose commands may carry a ``# comment`` above
them and continue over lines ending in ``\\``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gameday.errors import UsageError
from gameday.profile import DEFAULT_RUNBOOK
from gameday.runbook.package import find

SECTIONS: tuple[str, ...] = (
    "symptoms", "impact", "detection", "diagnosis", "resolution", "verification", "prevention", "escalation",
)
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh", ""}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[(?P<box>[ xX])\]\s+)?(?P<text>.*\S)\s*$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_LABEL = re.compile(r"^\*\*(?P<label>[^*]+)\*\*\s*[:：]\s*(?P<value>.*)$")


@dataclass(frozen=True)
class RunbookLine:
    """One line of a runbook that says something: a list item, a command, a comment-only block or text."""

    section: str  # canonical section name (``diagnosis``), or the heading as written for unknown ones
    heading: str  # the section heading as written
    subsection: str  # the sub-heading path, " › "-joined ("" directly under the section)
    kind: str  # item | check | command | note | text
    text: str  # the item's text, or the command with continuations joined
    line: int  # 1-based line number where it starts
    comment: str = ""  # a command's ``# comment`` lines above it

    @property
    def where(self) -> str:
        """``Diagnosis › 步驟 1：檢查 Service 狀態`` — for people."""
        return " › ".join(p for p in (self.heading, self.subsection) if p)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


@dataclass
class Runbook:
    """A parsed runbook."""

    path: Path
    title: str
    lines: list[RunbookLine] = field(default_factory=list)
    headings: dict[str, str] = field(default_factory=dict)  # canonical name -> heading as written

    def section(self, name: str) -> list[RunbookLine]:
        """The lines of one section (canonical name)."""
        return [ln for ln in self.lines if ln.section == name]

    def commands(self, section: str | None = None) -> list[RunbookLine]:
        """Every command of a fenced shell block (of one section, or of all)."""
        return [ln for ln in self.lines if ln.kind == "command" and (section is None or ln.section == section)]

    def has_section(self, name: str) -> bool:
        """Whether the runbook has that section."""
        return name in self.headings


def canonical_section(heading: str) -> str:
    """``Diagnosis`` → ``diagnosis``; a heading that is not a known section is kept as written."""
    words = re.findall(r"[A-Za-z]+", heading)
    first = words[0].lower() if words else ""
    return first if first in SECTIONS else heading.strip()


def parse_runbook(path: str | Path) -> Runbook:
    """Read and parse a runbook file; a missing or unreadable file is one clear UsageError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"runbook not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read runbook {path}: {exc}") from None
    runbook = parse_text(text, path)
    if not runbook.headings:
        raise UsageError(f"{path}: not a runbook (no '## Section' headings such as Symptoms or Diagnosis)")
    return runbook


def parse_text(text: str, path: str | Path = "<runbook>") -> Runbook:
    """Parse runbook markdown (see the module docstring for the format)."""
    runbook = Runbook(path=Path(path), title="")
    section = heading = ""
    sub: list[str] = []  # sub-heading path, by level (### is index 0)
    block: list[tuple[int, str]] | None = None
    block_lang = ""
    fence = ""

    def add(kind: str, text: str, line: int, comment: str = "") -> None:
        if section:
            runbook.lines.append(RunbookLine(section, heading, " › ".join(sub), kind, text, line, comment))

    for number, raw in enumerate(text.splitlines(), start=1):
        if block is not None:
            if raw.strip().startswith(fence):
                if block_lang in SHELL_LANGUAGES:
                    for kind, body, start, comment in _block_items(block):
                        add(kind, body, start, comment)
                block = None
            else:
                block.append((number, raw))
            continue
        fence_match = _FENCE.match(raw)
        if fence_match:
            fence, block_lang, block = fence_match.group(1), fence_match.group(2).lower(), []
            continue
        heading_match = _HEADING.match(raw)
        if heading_match:
            level, title = len(heading_match.group(1)), heading_match.group(2)
            if level == 1:
                runbook.title = runbook.title or title
                section = heading = ""
                sub = []
            elif level == 2:
                heading, section, sub = title, canonical_section(title), []
                runbook.headings.setdefault(section, title)
            else:
                sub = [*sub[: level - 3], title]
            continue
        if not raw.strip() or _RULE.match(raw):
            continue
        item = _LIST.match(raw)
        if item:
            add("check" if item.group("box") is not None else "item", item.group("text"), number)
        else:
            add("text", raw.strip(), number)
    if block is not None and block_lang in SHELL_LANGUAGES:  # an unclosed fence still counts
        for kind, body, start, comment in _block_items(block):
            add(kind, body, start, comment)
    return runbook


def _block_items(block: list[tuple[int, str]]) -> list[tuple[str, str, int, str]]:
    """Commands (with the comments above them) and comment-only notes of one fenced block."""
    items: list[tuple[str, str, int, str]] = []
    comments: list[str] = []
    comment_start = 0
    i = 0
    while i < len(block):
        number, raw = block[i]
        stripped = raw.strip()
        i += 1
        if not stripped:
            if comments:
                items.append(("note", " / ".join(comments), comment_start, ""))
                comments = []
            continue
        if stripped.startswith("#"):
            if not comments:
                comment_start = number
            comments.append(stripped.lstrip("#").strip())
            continue
        parts = [stripped]
        while parts[-1].endswith("\\") and i < len(block):
            parts[-1] = parts[-1][:-1].rstrip()
            parts.append(block[i][1].strip())
            i += 1
        items.append(("command", " ".join(p for p in parts if p), number, " / ".join(comments)))
        comments = []
    if comments:
        items.append(("note", " / ".join(comments), comment_start, ""))
    return items


def labelled_value(line: RunbookLine) -> tuple[str, str] | None:
    """``**Log Patterns**：a、b`` → ("Log Patterns", "a、b"); None for a line without a bold label."""
    match = _LABEL.match(line.text.strip())
    return (match.group("label").strip(), match.group("value").strip()) if match else None


DEFAULT_LOG_PATTERNS: tuple[str, ...] = ("Connection refused", "service unavailable")


def log_patterns(runbook: Runbook | None) -> list[str]:
    """The Detection section's "Log Patterns" (``Connection refused``, ``service unavailable``)."""
    if runbook is not None:
        for line in runbook.section("detection"):
            labelled = labelled_value(line)
            if labelled and "log" in labelled[0].lower():
                found = [p.strip(" `'\"") for p in re.split(r"[、,，;；]", labelled[1])]
                found = [p for p in found if p]
                if found:
                    return found
    return list(DEFAULT_LOG_PATTERNS)


def default_runbook_path(name: str = DEFAULT_RUNBOOK) -> Path:
    """The markdown of a runbook package (``runbooks/<name>/``; default: the one a profile follows unless it names
    another)."""
    return find(name).markdown
