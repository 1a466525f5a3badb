"""Finding, reading and validating a profile file: one line per problem, each naming the file and the field."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from gameday.profile.base import DEFAULT_PROFILE, ENV_VAR, LOCAL_FILE, MAX_BYTES, MAX_DEPTH, MAX_VALUES, ProfileError
from gameday.profile.model import Profile


def locate(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """Which profile file to use: ``--profile``, ``GAMEDAY_PROFILE``, ``./gameday.yaml``, the reference service."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    here = (cwd or Path.cwd()) / LOCAL_FILE
    return here if here.is_file() else DEFAULT_PROFILE


def load(path: str | os.PathLike[str] | None = None) -> Profile:
    """Read and validate a profile; :class:`ProfileError` lists every problem, one line each."""
    source = locate(path)
    shown = shown_path(source)
    try:
        with source.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)  # never more: a huge file (or /dev/zero) is refused at once
        if len(raw) > MAX_BYTES:
            raise ProfileError([f"{shown}: larger than {MAX_BYTES // 1024 // 1024} MiB, the most a profile may be"])
        text = raw.decode("utf-8")
    except IsADirectoryError:
        raise ProfileError([f"{shown}: is a directory, expected a YAML file"]) from None
    except FileNotFoundError:
        raise ProfileError([f"{shown}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([f"{shown}: cannot read: {getattr(exc, 'strerror', None) or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ProfileError([f"{shown}: not YAML{where}: {getattr(exc, 'problem', None) or exc}"]) from None
    except RecursionError:  # the YAML parser recurses once per level
        raise ProfileError([f"{shown}: nested more than {MAX_DEPTH} levels deep"]) from None
    if not isinstance(data, dict):
        raise ProfileError([f"{shown}: expected a mapping at the top level"])
    too_big = _too_big(data)
    if too_big:
        raise ProfileError([f"{shown}: {too_big}"])
    try:
        return Profile.model_validate({**data, "source": source.resolve()})
    except ValidationError as exc:
        lines = _explain(exc) + _cross_lines_despite(exc, {**data, "source": source.resolve()})
        raise ProfileError([f"{shown}: {line}" for line in dict.fromkeys(lines)]) from None


def _cross_lines_despite(exc: ValidationError, data: dict[str, Any], rounds: int = 4) -> list[str]:
    """The cross-field problems (placeholders, names) of a profile whose fields are not all valid, so that one
    round of fixes fixes everything: each invalid field is left out (its default, when it has one) and the rest
    validated again. A line about the item an invalid field belongs to (``journeys[0]``) is not repeated: it may
    follow from the field left out. An invalid required field of a list item ends the search (leaving the item out
    would renumber the others): its problems come in the next round."""
    pruned: set[str] = set()
    for _ in range(rounds):
        errors = [e for e in exc.errors() if e["loc"]]
        if not errors:  # only the profile's own (cross-field) problems are left
            return [line for line in _explain(exc) if not line.startswith(tuple(pruned))]
        for error in errors:
            where = _left_out(data, list(error["loc"]))
            if where is None:
                return []
            pruned.add(where)
        try:
            Profile.model_validate(data)
        except ValidationError as again:
            exc = again
        else:
            return []
    return []


def _left_out(data: dict[str, Any], loc: list[Any]) -> str | None:
    """Remove the value at ``loc`` from ``data`` (a missing one: its parent, when that is a mapping's value);
    return the field it belonged to (``journeys[0]``, ``slo.p95_ms``), or None when it cannot be left out."""
    original = list(loc)
    while loc:
        parent: Any = data
        try:
            for part in loc[:-1]:
                parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return None
        if not isinstance(parent, dict) or isinstance(loc[-1], int):
            return None
        if loc[-1] in parent:
            if loc == ["source"]:
                return None
            del parent[loc[-1]]
            first_index = next((i for i, part in enumerate(original) if isinstance(part, int)), len(original) - 1)
            return _dotted([str(part) for part in original[:first_index + 1]])
        loc = loc[:-1]
    return None


def _too_big(data: dict[str, Any]) -> str | None:
    """Why the parsed document is too deep or too large to validate (pydantic recurses per level, and YAML aliases
    can repeat one value a billion times), or None. Walked with a stack: the check itself never recurses."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen = 0
    while stack:
        value, where, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return f"more than {MAX_VALUES} values (YAML aliases repeating a value?)"
        if depth > MAX_DEPTH:
            return f"{where}: nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack += [(v, _deeper(where, f".{k}" if where else str(k), depth), depth + 1) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, _deeper(where, f"[{i}]", depth), depth + 1) for i, v in enumerate(value)]
    return None


def _deeper(where: str, step: str, depth: int) -> str:
    """The field's name one level down; past a few levels the line names where the nesting starts."""
    return where + step if depth < 4 else where if where.endswith("...") else f"{where}..."


def shown_path(path: Path) -> str:
    """The profile's path as its problem lines name it: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _explain(exc: ValidationError) -> list[str]:
    """Pydantic's errors as ``field: what was expected``, an unknown key with the closest valid name."""
    lines: list[str] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        where = _dotted(loc)
        if error["type"] == "extra_forbidden":
            valid = _valid_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else (f" (expected one of {', '.join(valid)})"
                                                                  if valid else "")
            lines.append(f"{where}: unknown key{hint}")
        elif error["type"] == "value_error" and not loc:
            lines += [f"{part}" for part in str(error["ctx"]["error"]).split("; ")]
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{where or 'profile'}: {message}")
    return lines


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _valid_keys(loc: list[str]) -> list[str]:
    """The keys the model at ``loc`` accepts (for the did-you-mean hint)."""
    model: Any = Profile
    for part in loc:
        if part.isdigit() or model is None:
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            alias = {f.alias: f for f in model.model_fields.values() if f.alias}.get(part)
            field = alias
        model = model_of(field.annotation) if field is not None else None
    if model is None or not hasattr(model, "model_fields"):
        return []
    keys = [(f.alias or n) for n, f in model.model_fields.items() if n != "source"]
    return sorted([*keys, "runbook"] if model is Profile else keys)


def model_of(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``X | None`` or ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = model_of(arg)
        if found is not None:
            return found
    return None


def schema() -> dict[str, Any]:
    """The profile's JSON Schema (``gameday profile schema``), for editors and CI linting."""
    out = Profile.model_json_schema(by_alias=True)
    out["properties"].pop("source", None)
    out["properties"]["runbook"] = {"type": "string", "title": "Runbook",
                                    "description": "one runbook package: short for runbooks: [NAME]"}
    out["not"] = {"required": ["runbook", "runbooks"]}
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "gameday service profile"
    return out
