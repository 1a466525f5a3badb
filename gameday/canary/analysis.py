"""One canary step's verdict, a pure function of what each side served: ``promote``, ``rollback`` or ``inconclusive``.

Why these statistics, and why these edges (the defects of the tools that own this ground):

- Errors: the difference of the two error rates with Newcombe's hybrid score interval (method 10, built on Wilson
  intervals). It behaves at 0 and at 100% failures, where the Wald interval collapses; the canary is rolled back
  only when the interval's lower bound is above the tolerance (it is worse, beyond noise), and passes only when its
  upper bound is within the tolerance (it is no worse, beyond noise). In between there is not enough traffic to say.
- Latency: over SUCCESSFUL requests only (a fast 503 is not a fast answer), the Mann-Whitney U test (scipy) that
  the canary is slower, plus the Hodges-Lehmann-style shift of medians and the p95 ratio as the effect size: a
  statistically significant 2 ms slowdown is not a reason to roll back, a 150 ms one is.
- Restarts: a canary replica that crashes or restarts more than the primary's replicas during the step is harm,
  whatever the error rates say: a release that dies some seconds after it got ready loses only the requests in
  flight at each crash (1.84% of 272, inconclusive for a minute), and the restarts are the platform's own record
  of it (supervisor's process table on the local target, the pods' ``restartCount`` on a cluster). Rolled back at
  once on that evidence: "canary restarted 2 times, primary 0".
- No data is never success (Argo Rollouts reported success when every measurement errored, argo-rollouts#4479; Flagger
  halts on "no values found", flagger#1689): a canary that got no traffic is ``inconclusive``, and a canary whose
  every request failed is ``rollback`` even on little traffic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from statistics import median
from typing import Any

from gameday.verify.verdicts import wilson_interval


class Decision(StrEnum):
    """What a step decides."""

    PROMOTE = "promote"
    ROLLBACK = "rollback"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Side:
    """What one side (canary or primary) served in a step, from the load balancer's per-server records."""

    requests: int
    failures: int  # 5xx or no answer
    latencies_ms: tuple[float, ...] = ()  # of successful requests only
    restarts: int = 0  # its replicas' restarts (crashes) during the step, as the platform counted them

    @property
    def error_rate(self) -> float:
        """Failures over requests (0 with no requests: callers check ``requests`` first)."""
        return self.failures / self.requests if self.requests else 0.0

    def p(self, q: float) -> float | None:
        """The q-quantile of the successful latencies (nearest rank), None without any."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    def summary(self) -> dict[str, Any]:
        """Counts and the latency distribution, for the report."""
        return {"requests": self.requests, "failures": self.failures, "error_rate": round(self.error_rate, 5),
                "restarts": self.restarts, "successes_timed": len(self.latencies_ms),
                **{f"p{int(q * 100)}_ms": (round(v, 1) if (v := self.p(q)) is not None else None)
                   for q in (0.5, 0.9, 0.95, 0.99)}}


@dataclass(frozen=True)
class Tolerances:
    """How much worse the canary may be, and how sure the comparison must be."""

    error_rate: float = 0.01  # canary error rate may exceed the primary's by this much
    latency_ms: float = 50.0  # canary's median may be slower by this much
    p95_ratio: float = 1.5  # canary's p95 may be this many times the primary's
    confidence: float = 0.95
    min_requests: int = 30  # per side, before errors can be judged at all
    min_latencies: int = 20  # successful requests per side, before latency can be judged
    min_tail: int = 100  # successful requests per side, before the p95 can be judged (5 requests above it)

    def __post_init__(self) -> None:
        if not 0 <= self.error_rate < 1:
            raise ValueError("error-rate tolerance must be in [0, 1)")
        if not self.latency_ms >= 0 or not self.p95_ratio >= 1:  # written so that NaN is refused too
            raise ValueError("latency tolerance must be >= 0 ms and the p95 ratio >= 1")
        if not 0.5 <= self.confidence < 1:
            raise ValueError("confidence must be in [0.5, 1)")
        if self.min_requests < 1 or self.min_latencies < 2 or self.min_tail < self.min_latencies:
            raise ValueError("minimum sample sizes must be positive (the tail's at least the latencies')")


@dataclass(frozen=True)
class StepVerdict:
    """One step's decision, with every figure it was made from."""

    decision: Decision
    reasons: tuple[str, ...]
    canary: dict[str, Any]
    primary: dict[str, Any]
    error_diff_ci: tuple[float, float] | None = None
    latency_p_value: float | None = None
    median_shift_ms: float | None = None
    p95_ratio: float | None = None
    # errors / latency -> ok | worse | unknown; restarts -> ok | worse, there only when a side restarted
    checks: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        out = asdict(self)
        out["decision"] = str(self.decision)
        return out


def newcombe_interval(fail_a: int, n_a: int, fail_b: int, n_b: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of ``rate_a - rate_b`` by Newcombe's hybrid score method (Wilson intervals of each side)."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("both sides need at least one request")
    pa, pb = fail_a / n_a, fail_b / n_b
    la, ua = wilson_interval(fail_a, n_a, confidence)
    lb, ub = wilson_interval(fail_b, n_b, confidence)
    diff = pa - pb
    lower = diff - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    upper = diff + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return max(-1.0, lower), min(1.0, upper)


def judge_errors(canary: Side, primary: Side, tol: Tolerances) -> tuple[str, str, tuple[float, float] | None]:
    """``ok``, ``worse`` or ``unknown`` for the error rates, with the reason and the interval."""
    if canary.requests == 0:
        return "unknown", "no request reached the canary", None
    if canary.failures == canary.requests and canary.requests >= 3:
        return "worse", f"every one of the canary's {canary.requests} requests failed", None
    if primary.requests == 0:
        return "unknown", "no request reached the primary to compare with", None
    lo, hi = newcombe_interval(canary.failures, canary.requests, primary.failures, primary.requests, tol.confidence)
    shown = (f"error rate canary {canary.error_rate:.2%} vs primary {primary.error_rate:.2%} "
             f"(difference {lo:+.2%}..{hi:+.2%})")
    if lo > tol.error_rate:
        return "worse", f"{shown} exceeds the tolerance {tol.error_rate:.2%}", (lo, hi)
    if canary.requests < tol.min_requests or primary.requests < tol.min_requests:
        return "unknown", f"{shown}: fewer than {tol.min_requests} requests on a side", (lo, hi)
    if hi <= tol.error_rate:
        return "ok", f"{shown} within the tolerance {tol.error_rate:.2%}", (lo, hi)
    return "unknown", f"{shown}: not enough traffic to tell it from the tolerance {tol.error_rate:.2%}", (lo, hi)


def load_statistics() -> None:
    """Import scipy's statistics now, before a canary changes anything. Imported lazily (``judge_latency``), it
    loaded at the first judged step, mid-canary; a Ctrl-C that lands in a C extension's initialisation surfaces
    as ``ImportError: initialization failed`` rather than KeyboardInterrupt, and the canary ended as an unexpected
    error (exit 1) instead of an interruption (130). Measured: one run in a loaded ``make test``."""
    import scipy.stats  # noqa: F401


def judge_latency(canary: Side, primary: Side, tol: Tolerances) -> tuple[str, str, float | None, float | None,
                                                                          float | None]:
    """``ok``, ``worse`` or ``unknown`` for latency of successful requests: (check, reason, p, shift, p95 ratio)."""
    a, b = canary.latencies_ms, primary.latencies_ms
    if len(a) < tol.min_latencies or len(b) < tol.min_latencies:
        return ("unknown", f"latency not judged: {len(a)} canary / {len(b)} primary successful requests "
                f"(needs {tol.min_latencies} each)", None, None, None)
    # imported here: scipy.stats takes ~0.7 s to import, which every gameday command paid at the top (a canary
    # has it already: load_statistics)
    from scipy.stats import mannwhitneyu

    p_value = float(mannwhitneyu(a, b, alternative="greater").pvalue)
    shift = median(a) - median(b)
    pa, pb = canary.p(0.95), primary.p(0.95)
    assert pa is not None and pb is not None
    ratio = pa / pb if pb > 0 else math.inf
    shown = (f"median canary {median(a):.0f} ms vs primary {median(b):.0f} ms (shift {shift:+.0f} ms, "
             f"p95 ratio {ratio:.2f}, Mann-Whitney p={p_value:.3g})")
    significant = p_value < 1 - tol.confidence
    # a ratio alone is no harm: 6 ms against 3 ms is "twice as slow" and nobody notices; the tail must also be
    # slower by the absolute tolerance (a freshly started replica's first milliseconds are not a regression). And a
    # p95 of a few dozen requests is their top one or two: a single cold-start request is not a slow tail, so the
    # tail is judged only on min_tail requests a side (until then the median shift alone judges the latency)
    tail_known = len(a) >= tol.min_tail and len(b) >= tol.min_tail
    tail_worse = tail_known and ratio > tol.p95_ratio and pa - pb > tol.latency_ms
    if significant and (shift > tol.latency_ms or tail_worse):
        return "worse", f"{shown}: slower beyond the tolerance ({tol.latency_ms:.0f} ms, x{tol.p95_ratio})", \
            p_value, shift, ratio
    return "ok", f"{shown}: within the tolerance", p_value, shift, ratio


def judge_restarts(canary: Side, primary: Side) -> tuple[str, str] | None:
    """``worse`` when the canary's replicas restarted more than the primary's, ``ok`` when not; None when neither
    side restarted (nothing to say)."""
    if not canary.restarts and not primary.restarts:
        return None
    shown = f"canary restarted {canary.restarts} time{'s' if canary.restarts != 1 else ''}, primary {primary.restarts}"
    return ("worse", shown) if canary.restarts > primary.restarts else ("ok", f"{shown}: no more than the primary")


def unmeasured(reason: str) -> StepVerdict:
    """The verdict of a step whose measurement failed (the counters could not be read): no data, never success."""
    return StepVerdict(Decision.INCONCLUSIVE, (reason,), {}, {}, checks={"errors": "unknown", "latency": "unknown"})


def decide(canary: Side, primary: Side, tol: Tolerances) -> StepVerdict:
    """The step's decision: rollback on evidence of harm, promote only on evidence of no harm, else inconclusive.
    A canary that restarted more than the primary is harm at once (its reason first)."""
    errors, error_reason, ci = judge_errors(canary, primary, tol)
    latency, latency_reason, p_value, shift, ratio = judge_latency(canary, primary, tol)
    restarts = judge_restarts(canary, primary)
    checks = {"errors": errors, "latency": latency}
    reasons = (error_reason, latency_reason)
    if restarts is not None:
        checks["restarts"] = restarts[0]
        reasons = (restarts[1], *reasons) if restarts[0] == "worse" else (*reasons, restarts[1])
    if "worse" in checks.values():
        decision = Decision.ROLLBACK
    elif errors == "ok" and latency == "ok":
        decision = Decision.PROMOTE
    else:
        decision = Decision.INCONCLUSIVE
    return StepVerdict(decision, reasons, canary.summary(), primary.summary(), ci, p_value, shift, ratio, checks)
