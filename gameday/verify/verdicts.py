"""Verdicts: pure functions of measurements (counts and latency numbers), no I/O.

"Error rate < 1%" is decided with a stated confidence: the verdict reports the measured rate, the
sample size and the upper end of the Wilson score interval at the configured confidence (95% by
default, z = 1.96), and passes only when that upper bound is under the threshold. With zero
failures the bound is z²/(n + z²), so a pass needs n > z²(1 - t)/t requests (≈ 381 at 1%, 95%):
:func:`required_requests` computes it, :func:`window_needed` turns it into seconds at a request rate. A load measured
"until decided" (the steady state, the smoke gate, the game day's verification window) stops by one rule,
:func:`load_decided`; :func:`measured_error_rate_verdict` judges such a load on what the service answered, and one
still undecided at its cap is "inconclusive" with its numbers (never a pass, never an error rate).

"Response time normal" compares the p95 of the *successful* requests with the SLO and with the baseline p95
measured in the same run before any fault (``baseline * tolerance + slack``); both limits are printed. The slack is
the baseline's own spread (its p99 - p50) when that is wider than the configured floor: how much later than the
typical request an unlucky one answered *while the baseline was measured* - a page queued behind another in a
synchronous worker, a neighbour's CPU burst on a shared runner. A fast service on a quiet machine keeps the floor
(50 ms); a heavy one on a busy runner is judged against the noise it showed before any fault, not ours. Latency
over failed requests is not a verdict (a dead service answers 503 in a millisecond): without enough successful
requests the line says "not judged" and fails.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from statistics import NormalDist
from typing import Any

# Fewer successful requests than this and a p95 means little: the latency is not judged (a failure).
MIN_LATENCY_SAMPLES = 20


class Status(StrEnum):
    """A verdict's outcome; only PASS passes."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """One decided (or undecidable) check: a name, a status, the numbers behind it, one line of why."""

    name: str
    status: Status
    measured: dict[str, Any] = field(default_factory=dict)
    explanation: str = ""
    item: str = ""  # the checklist item's id (its runbook tag), when the verdict is one

    @property
    def passed(self) -> bool:
        """Whether the verdict is a pass (inconclusive is not)."""
        return self.status is Status.PASS

    def line(self) -> str:
        """One line for people: status, name, explanation."""
        return f"{self.status.value.upper():<12} {self.name}: {self.explanation}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        data = asdict(self)
        data["status"] = self.status.value
        return data


# --- error rate ----------------------------------------------------------------------------------
def z_value(confidence: float) -> float:
    """The normal quantile of a two-sided interval at ``confidence`` (1.96 at 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def wilson_interval(failures: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a failure proportion; (0, 1) when there is no sample."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= failures <= n:
        raise ValueError(f"failures ({failures}) must be between 0 and the sample size ({n})")
    z = z_value(confidence)
    p = failures / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_upper(failures: float, n: float, confidence: float = 0.95) -> float:
    """The upper end of the Wilson score interval."""
    return wilson_interval(failures, n, confidence)[1]


def required_requests(max_rate: float = 0.01, confidence: float = 0.95, observed_rate: float = 0.0) -> int | None:
    """The smallest sample whose Wilson upper bound is under ``max_rate`` at ``observed_rate``.

    None when no sample can ever pass (the observed rate is not below the threshold).
    """
    if not 0.0 < max_rate < 1.0:
        raise ValueError(f"max_rate must be between 0 and 1, got {max_rate}")
    if observed_rate < 0 or observed_rate >= max_rate:
        return None

    def passes(n: int) -> bool:
        return wilson_upper(observed_rate * n, n, confidence) < max_rate

    hi = 1
    while not passes(hi):
        hi *= 2
        if hi > 10**12:
            return None
    lo = hi // 2
    while lo + 1 < hi:  # passes(hi) and not passes(lo) (or lo == 0)
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def window_needed(
    rate_rps: float, max_rate: float = 0.01, confidence: float = 0.95, observed_rate: float = 0.0
) -> float | None:
    """Seconds of load at ``rate_rps`` needed for :func:`required_requests`; None when never (or no rate)."""
    needed = required_requests(max_rate, confidence, observed_rate)
    if needed is None or rate_rps <= 0:
        return None
    return needed / rate_rps


def error_rate_verdict(
    requests: int,
    failures: int,
    max_rate: float = 0.01,
    confidence: float = 0.95,
    duration_s: float | None = None,
    name: str = "error rate < 1%",
    item: str = "error-rate",
) -> Verdict:
    """Pass when the Wilson upper bound of the failure rate is under ``max_rate``.

    Fail when the failures are confidently above (the Wilson lower bound reaches the threshold), or when
    the measured rate itself is at or above the threshold on a sample large enough to have passed.
    Otherwise inconclusive: too few requests (zero included) to decide; the explanation says how many are
    needed, and for how long at the measured rate when ``duration_s`` is given.
    """
    if requests < 0 or failures < 0 or failures > requests:
        raise ValueError(f"bad counts: {failures} failures of {requests} requests")
    pct = f"{max_rate:.0%}" if (max_rate * 100).is_integer() else f"{max_rate:.2%}"
    level = f"{confidence:.0%}"
    minimum = required_requests(max_rate, confidence, 0.0) or 0
    rate_rps = requests / duration_s if duration_s and duration_s > 0 else None
    measured: dict[str, Any] = {
        "requests": requests,
        "failures": failures,
        "error_rate": failures / requests if requests else None,
        "upper_bound": None,
        "lower_bound": None,
        "confidence": confidence,
        "threshold": max_rate,
        "min_requests_for_pass": minimum,
        "request_rate_rps": rate_rps,
    }
    if requests == 0:
        return Verdict(name, Status.INCONCLUSIVE, measured,
                       f"no requests measured; at least {minimum} are needed to show < {pct} at {level}", item)
    lo, hi = wilson_interval(failures, requests, confidence)
    rate = failures / requests
    measured.update(upper_bound=hi, lower_bound=lo)
    numbers = f"{failures}/{requests} failed = {rate:.2%}, {level} upper bound {hi:.3%}"
    if hi < max_rate:
        return Verdict(name, Status.PASS, measured, f"{numbers} < {pct}", item)
    if lo >= max_rate:
        return Verdict(name, Status.FAIL, measured, f"{numbers}; even the lower bound {lo:.3%} is >= {pct}", item)
    if rate >= max_rate and requests >= minimum:
        return Verdict(name, Status.FAIL, measured, f"{numbers}; the measured rate is not below {pct}", item)
    needed = required_requests(max_rate, confidence, rate)
    if needed is None:
        why = f"the measured rate is not below {pct}; only more requests could tell"
    else:
        why = f"too few requests to decide: about {needed} are needed at this rate"
        if rate_rps:
            why += f" (~{math.ceil(needed / rate_rps)} s at {rate_rps:.0f} req/s)"
        measured["requests_needed"] = needed
    return Verdict(name, Status.INCONCLUSIVE, measured, f"{numbers}; {why}", item)


def load_decided(requests: int, failures: int, max_rate: float = 0.01, confidence: float = 0.95,
                 min_successes: int = MIN_LATENCY_SAMPLES) -> bool:
    """Whether a load measured so far can stop: its error-rate verdict failed (more requests cannot undo that), or
    passed with enough successful requests for a p95. The one stopping rule of every load that measures "until
    decided": the steady state's, the smoke gate's and the game day's verification window."""
    status = error_rate_verdict(requests, failures, max_rate, confidence).status
    return status is Status.FAIL or (status is Status.PASS and requests - failures >= min_successes)


def measured_error_rate_verdict(
    requests: int,
    failures: int,
    duration_s: float,
    cap_s: float,
    max_rate: float = 0.01,
    confidence: float = 0.95,
    not_sent: int = 0,
    tune: str = "verify.window_s",
    name: str = "error rate < 1%",
    item: str = "error-rate",
) -> Verdict:
    """:func:`error_rate_verdict` over the requests the service *answered* in a load measured until decided or
    ``cap_s``; a verdict still undecided is "inconclusive" with its numbers and what to raise (``tune``).

    ``requests`` and ``failures`` count what was sent and judged (an answer, a timeout, a refused connection);
    ``not_sent`` is what the load generator planned and did not send: shown beside the verdict, never in it (an
    error rate of requests the service never saw would be a false figure).
    """
    verdict = error_rate_verdict(requests, failures, max_rate, confidence, duration_s, name, item)
    measured = {**verdict.measured, "not_sent": not_sent, "duration_s": round(duration_s, 2), "cap_s": cap_s}
    if verdict.status is not Status.INCONCLUSIVE:
        return Verdict(name, verdict.status, measured, verdict.explanation, item)
    measured["error_rate"] = None  # undecided: no figure to quote as the service's error rate
    pct = f"{max_rate:.0%}" if (max_rate * 100).is_integer() else f"{max_rate:.2%}"
    rate_rps = requests / duration_s if duration_s > 0 else 0.0
    text = (f"inconclusive: {requests} requests in {duration_s:.0f} s, the service answered {rate_rps:.1f} req/s"
            f" ({failures} failed" + (f", {not_sent} not sent" if not_sent else "") + ")")
    needed = required_requests(max_rate, confidence, failures / requests if requests else 0.0)
    if needed is None:
        text += f"; its failures are not confidently above {pct} nor below it"
    elif rate_rps > 0:
        text += f"; ~{needed} are needed to show < {pct} at {confidence:.0%} (~{math.ceil(needed / rate_rps)} s)"
    return Verdict(name, Status.INCONCLUSIVE, measured,
                   f"{text}: raise {tune} or set a coarser slo.max_error_rate", item)


# --- response time -------------------------------------------------------------------------------
def response_time_verdict(
    p95_ms: float | None,
    samples: int,
    slo_ms: float,
    baseline_p95_ms: float | None = None,
    tolerance: float = 2.0,
    slack_ms: float = 50.0,
    baseline_samples: int | None = None,
    min_samples: int = MIN_LATENCY_SAMPLES,
    name: str = "response time normal",
    item: str = "response-time",
    baseline_spread_ms: float | None = None,
) -> Verdict:
    """Pass when the p95 of ``samples`` successful requests is within the SLO and the baseline's tolerance.

    ``baseline_spread_ms``: the baseline's p99 - p50 (:attr:`LoadWindow.ok_spread_ms`); the slack is the larger of
    it and ``slack_ms``: the baseline's own noise, measured on the service and the machine it runs on.

    Without a baseline (none measured before any fault) only the SLO is judged, and the explanation says
    so. A baseline that is itself above the SLO (a latency spike while it was measured) cannot loosen
    the verdict: the SLO always applies; a baseline of too few samples is ignored. Too few successful
    requests in the window is "not judged", a FAIL: no gate may pass on latency it did not measure.
    """
    baseline_limit = None
    usable_baseline = baseline_p95_ms is not None and (baseline_samples is None or baseline_samples >= min_samples)
    floor_ms = slack_ms
    if usable_baseline and baseline_spread_ms is not None and baseline_spread_ms > slack_ms:
        slack_ms = baseline_spread_ms  # the baseline's own noise, wider than the floor
    if usable_baseline:
        baseline_limit = baseline_p95_ms * tolerance + slack_ms  # type: ignore[operator]
    measured: dict[str, Any] = {
        "p95_ms": p95_ms,
        "samples": samples,
        "slo_ms": slo_ms,
        "baseline_p95_ms": baseline_p95_ms,
        "baseline_samples": baseline_samples,
        "baseline_limit_ms": baseline_limit,
        "tolerance": tolerance,
        "slack_ms": slack_ms,
        "slack_floor_ms": floor_ms,
        "baseline_spread_ms": baseline_spread_ms,
    }
    if p95_ms is None or samples <= 0:
        return Verdict(name, Status.FAIL, measured, "not judged: no successful requests", item)
    if samples < min_samples:
        return Verdict(name, Status.FAIL, measured, f"not judged: only {samples} successful requests, at least "
                       f"{min_samples} are needed for a p95", item)
    slo_ok = p95_ms <= slo_ms
    slo_text = f"{'within' if slo_ok else 'above'} SLO {slo_ms:.0f} ms"
    if baseline_limit is not None:
        base_ok = p95_ms <= baseline_limit
        spread = " (the baseline's own p99 - p50)" if slack_ms > floor_ms else ""
        base_text = (f"{'within' if base_ok else 'above'} baseline {baseline_p95_ms:.0f} ms x{tolerance:g} + "
                     f"{slack_ms:.0f} ms{spread} = {baseline_limit:.0f} ms")
        if baseline_p95_ms > slo_ms:  # type: ignore[operator]
            base_text += " (the baseline itself is above the SLO)"
    elif baseline_p95_ms is not None:
        base_ok, base_text = True, f"baseline ignored: only {baseline_samples} samples, SLO only"
    else:
        base_ok, base_text = True, "no baseline measured before any fault: SLO only"
    joiner = " and " if slo_ok == base_ok else " but "
    text = f"p95 {p95_ms:.0f} ms {slo_text}{joiner if baseline_limit is not None else ' ('}{base_text}"
    text += "" if baseline_limit is not None else ")"
    return Verdict(name, Status.PASS if slo_ok and base_ok else Status.FAIL, measured, text, item)


def overall(verdicts: list[Verdict]) -> Status:
    """PASS only when every verdict passes; FAIL when any fails; otherwise INCONCLUSIVE."""
    if verdicts and all(v.passed for v in verdicts):
        return Status.PASS
    if any(v.status is Status.FAIL for v in verdicts):
        return Status.FAIL
    return Status.INCONCLUSIVE
