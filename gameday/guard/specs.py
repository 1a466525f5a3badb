"""``--stop-on SPEC``: a stop condition written on the command line, ``[EXPERIMENT/]KIND:ARGS``, parsed into the
run's :class:`~gameday.config.StopConditions` (see :mod:`gameday.guard.stops` for the kinds and what they mean).
A SPEC that does not parse is one line (:class:`~gameday.errors.UsageError`), before anything is checked."""

from __future__ import annotations

import re

from gameday.config import (
    BlastRadiusCondition,
    ConditionSet,
    HttpCondition,
    PromqlCondition,
    StopConditions,
)
from gameday.errors import UsageError

_SCOPED = re.compile(r"^(?P<exp>[A-Za-z0-9_.-]+)/(?P<rest>(outage|promql|http|blast):.*)$", re.S)
_FOR = re.compile(r"\s+for\s+(?P<dur>\S+)\s*$")
_AT = re.compile(r"\s+at\s+(?P<url>https?://\S+)\s*$")
_ON_ERROR = re.compile(r"\s+on-error\s+(?P<mode>\S+)\s*$")
ON_ERROR = ("stop", "continue")
_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<unit>ms|s|m)?$")


def duration(text: str, spec: str) -> float:
    """``120``, ``120s``, ``2m``, ``500ms`` -> seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise UsageError(f"stop condition {spec!r}: bad duration {text!r} (e.g. 30s, 2m, 500ms)")
    return float(m["n"]) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m["unit"]]


def _suffixes(text: str, spec: str) -> tuple[str, float | None, str | None, str | None]:
    """Strip trailing ``for DUR``, ``at URL`` and ``on-error stop|continue`` (any order)."""
    for_s: float | None = None
    url: str | None = None
    on_error: str | None = None
    for _ in range(3):
        if (m := _FOR.search(text)) and for_s is None:
            for_s, text = duration(m["dur"], spec), text[:m.start()]
        elif (m := _AT.search(text)) and url is None:
            url, text = m["url"], text[:m.start()]
        elif (m := _ON_ERROR.search(text)) and on_error is None:
            on_error, text = m["mode"], text[:m.start()]
            if on_error not in ON_ERROR:
                raise UsageError(f"stop condition {spec!r}: on-error {on_error!r}: expected stop or continue")
    return text.strip(), for_s, url, on_error


def parse_spec(spec: str, into: StopConditions) -> StopConditions:
    """Add one ``--stop-on`` SPEC to ``into`` (a copy); one line (UsageError) when it does not parse."""
    conditions = into.model_copy(deep=True)
    scoped = _SCOPED.match(spec.strip())
    experiment, rest = (scoped["exp"], scoped["rest"]) if scoped else (None, spec.strip())
    kind, sep, args = rest.partition(":")
    if not sep or kind not in ("outage", "promql", "http", "blast"):
        raise UsageError(f"stop condition {spec!r}: expected [EXPERIMENT/]outage:|promql:|http:|blast:... "
                         "(see 'gameday run --help')")
    target: ConditionSet = conditions
    if experiment:
        target = conditions.experiments.setdefault(experiment, ConditionSet())
    args, for_s, url, on_error = _suffixes(args, spec)
    if not args:
        raise UsageError(f"stop condition {spec!r}: nothing after '{kind}:'")
    errors = {"on_error": on_error} if on_error else {}
    if kind == "outage":
        if for_s is not None or url or on_error:
            raise UsageError(f"stop condition {spec!r}: outage takes one duration (outage:120s)")
        target.outage_s = duration(args, spec)
    elif kind == "promql":
        target.promql.append(PromqlCondition(expr=args, for_s=for_s or 0.0, url=url, **errors))
    elif kind == "http":
        if url:
            raise UsageError(f"stop condition {spec!r}: http takes its URL first (http:URL for 2s)")
        target.http.append(HttpCondition(url=args, for_s=for_s or 0.0, **errors))
    else:
        path, gt, rate = args.partition(">")
        if not gt:
            raise UsageError(f"stop condition {spec!r}: expected blast:ENDPOINT>RATE (e.g. blast:catalogue>5%)")
        try:
            value = float(rate.strip().rstrip("%")) / (100 if rate.strip().endswith("%") else 1)
        except ValueError:
            raise UsageError(f"stop condition {spec!r}: bad rate {rate.strip()!r} (e.g. 5% or 0.05)") from None
        if not 0 <= value <= 1:
            raise UsageError(f"stop condition {spec!r}: the rate must be between 0 and 100%")
        target.blast_radius.append(BlastRadiusCondition(path=path.strip(), max_error_rate=value,
                                                        window_s=for_s or 5.0, **errors))
    return conditions


def with_specs(base: StopConditions, specs: list[str]) -> StopConditions:
    """The configured conditions plus every ``--stop-on`` SPEC."""
    for spec in specs:
        base = parse_spec(spec, base)
    return base
