"""The runbook's dependency resilience (Prevention: circuit breakers, retries, fallback) as verdicts: pure functions
of what users saw through the load balancer (each answer's outcome and latency), no I/O.

A profile states, per dependency, what the service promises (``promises``: its timeout, a breaker, retries, a
fallback answer). Each promise is checked against what the service did under the fault that shows it: a breaker
only shows its worth when the dependency is *slow* (requests fail fast instead of queueing on the timeout),
retries only when failures are *intermittent*, a fallback only when the dependency is gone. A promise the profile
does not make is a finding against its Prevention line, never a pass (:func:`unpromised`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gameday.verify.verdicts import Status, Verdict, error_rate_verdict

if TYPE_CHECKING:
    from gameday.calls import Call
    from gameday.profile import Fallback, Profile

# the promise -> the runbook's Prevention line it proves (service-outage.coverage.yml)
PREVENTION = {"breaker": "實作 circuit breakers", "retries": "新增 retry 邏輯", "fallback": "使用 fallback 機制"}
# an HTTP answer through the load balancer on 2 shared cores costs this much beyond the service's own timeout
TIMEOUT_SLACK_MS = 250.0
# fewer failures than this after the breaker should be open, and their p95 means little: inconclusive
MIN_FAILURES = 10
# failures this close to the timeout (a share of it) waited it out: no breaker answered for them
SLOW_AS_TIMEOUT = 0.8


@dataclass(frozen=True)
class Answer:
    """One request as a user saw it: when it ended (seconds from the fault), whether it was answered as expected,
    how long it took, and whether its endpoint needs the dependency under the fault."""

    at_s: float
    ok: bool
    elapsed_ms: float
    needs: bool
    what: str = ""  # its endpoint, and why it failed


def unpromised(profile: Profile, promise: str, dependency: str | None = None) -> list[str]:
    """One finding per dependency (or just ``dependency``) that does not promise ``promise`` (breaker, retries or
    fallback)."""
    found = []
    for dep in profile.dependencies:
        if dependency is not None and dep.name != dependency:
            continue
        made = dep.promises is not None and bool(getattr(dep.promises, promise))
        if not made:
            found.append(f"no {'retries' if promise == 'retries' else promise} declared for {dep.name} "
                         f"(Prevention: {PREVENTION[promise]})")
    return found


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile (nearest rank), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def breaker_verdict(answers: Sequence[Answer], dependency: str, timeout_ms: float, opens_within_s: float,
                    fail_fast_ms: float) -> Verdict:
    """With ``dependency`` slower than the service's timeout, the requests that need it fail, none waits much
    longer than ``timeout_ms``, and from ``opens_within_s`` after the first failure the p95 of their failures is
    under ``fail_fast_ms`` (the breaker open: failing fast, not queueing on the timeout into 504s)."""
    name = f"{dependency} slow: breaker fails fast"
    needing = [a for a in answers if a.needs]
    failures = [a for a in needing if not a.ok]
    measured: dict[str, object] = {"requests": len(needing), "failures": len(failures), "timeout_ms": timeout_ms,
                                   "fail_fast_ms": fail_fast_ms, "opens_within_s": opens_within_s}
    if not failures:
        return Verdict(name, Status.FAIL, measured, f"none of {len(needing)} requests needing {dependency} failed "
                       f"while it answered later than the promised {timeout_ms:g} ms timeout: no timeout at work")
    first = min(a.at_s for a in failures)
    waited = p95([a.elapsed_ms for a in needing if a.at_s < first + opens_within_s]) or 0.0
    late = [a.elapsed_ms for a in failures if a.at_s >= first + opens_within_s]
    late_p95 = p95(late)
    measured.update(first_failure_s=round(first, 3), p95_before_open_ms=round(waited, 1),
                    failures_after_open=len(late), p95_after_open_ms=None if late_p95 is None else round(late_p95, 1))
    if waited > timeout_ms + TIMEOUT_SLACK_MS:
        return Verdict(name, Status.FAIL, measured, f"requests needing {dependency} waited {waited:.0f} ms (p95) "
                       f"before the breaker could open: over the promised {timeout_ms:g} ms timeout")
    if late_p95 is None or len(late) < MIN_FAILURES:
        return Verdict(name, Status.INCONCLUSIVE, measured, f"{len(late)} failures of requests needing {dependency} "
                       f"after {opens_within_s:g}s: fewer than {MIN_FAILURES}, no p95 to judge")
    if late_p95 >= fail_fast_ms:
        why = "no breaker opened, every request waits out the timeout" if late_p95 >= SLOW_AS_TIMEOUT * timeout_ms \
            else "failing, but not fast"
        return Verdict(name, Status.FAIL, measured, f"{opens_within_s:g}s after the first timeout the failures of "
                       f"requests needing {dependency} still took {late_p95:.0f} ms (p95 of {len(late)}), promised "
                       f"under {fail_fast_ms:g} ms: {why}")
    return Verdict(name, Status.PASS, measured, f"failures of requests needing {dependency} took {late_p95:.0f} ms "
                   f"(p95 of {len(late)}) from {opens_within_s:g}s after the first timeout, under {fail_fast_ms:g} ms")


def breaker_decided(answers: Sequence[Answer], opens_within_s: float) -> bool:
    """Whether :func:`breaker_verdict` has what it judges: ``MIN_FAILURES`` failures of requests needing the
    dependency from ``opens_within_s`` after the first one. Measuring on adds nothing to its verdict (open and fast,
    or still waiting out the timeout, is then in its p95) and only lengthens the outage."""
    failed = [a.at_s for a in answers if a.needs and not a.ok]
    return bool(failed) and sum(1 for at in failed if at >= min(failed) + opens_within_s) >= MIN_FAILURES


def unaffected_verdict(answers: Sequence[Answer], dependency: str, slo_p95_ms: float, max_rate: float,
                       confidence: float = 0.95) -> Verdict:
    """The requests that do not need ``dependency`` keep the SLO while it is faulty: error rate and p95."""
    name = f"{dependency} faulty: endpoints without it keep the SLO"
    others = [a for a in answers if not a.needs]
    failed = [a for a in others if not a.ok]
    errors = error_rate_verdict(len(others), len(failed), max_rate, confidence, name=name)
    latency = p95([a.elapsed_ms for a in others if a.ok])
    measured = {**errors.measured, "p95_ms": latency, "slo_p95_ms": slo_p95_ms}
    if not errors.passed:
        most = f" (first: {failed[0].what})" if failed else ""
        return Verdict(name, errors.status, measured, f"requests not needing {dependency}: {errors.explanation}{most}")
    if latency is None or latency > slo_p95_ms:
        return Verdict(name, Status.FAIL, measured, f"requests not needing {dependency} took {latency} ms (p95), "
                       f"over the SLO's {slo_p95_ms:g} ms")
    return Verdict(name, Status.PASS, measured, f"{len(others)} requests not needing {dependency}: "
                   f"{errors.explanation}; p95 {latency:.0f} ms within {slo_p95_ms:g} ms")


def retries_verdict(answers: Sequence[Answer], dependency: str, fraction: float, max_rate: float = 0.01,
                    confidence: float = 0.95) -> Verdict:
    """With a ``fraction`` of the connections to ``dependency`` reset, the requests that need it fail less than
    ``max_rate`` (decided with the Wilson bound, as every error rate here): retries absorb the resets."""
    pct = f"{max_rate:.0%}" if (max_rate * 100).is_integer() else f"{max_rate:.2%}"
    name = f"{dependency} flaky: users see < {pct} errors"
    needing = [a for a in answers if a.needs]
    failed = [a for a in needing if not a.ok]
    errors = error_rate_verdict(len(needing), len(failed), max_rate, confidence, name=name)
    if errors.passed:
        return Verdict(name, Status.PASS, errors.measured, f"{fraction:.0%} of the connections to {dependency} "
                       f"reset: {errors.explanation}")
    first = f" (first: {failed[0].what})" if failed else ""
    why = "retries promised, the resets reached users" if errors.status is Status.FAIL else "not enough requests"
    return Verdict(name, errors.status, errors.measured, f"{fraction:.0%} of the connections to {dependency} reset: "
                   f"{len(failed)} of {len(needing)} requests needing it failed: {errors.explanation}; {why}{first}")


def fallback_verdict(call: Call, dependency: str, fallback: Fallback) -> Verdict:
    """While ``dependency`` is unreachable, the fallback endpoint answers exactly what the profile promises
    (status and JSON assertions), not merely some answer."""
    name = f"{dependency} unreachable: {fallback.endpoint} answers its fallback"
    measured = {"status": call.status, "expect": fallback.expect.status, "elapsed_ms": call.elapsed_ms}
    if call.ok:
        return Verdict(name, Status.PASS, measured, f"{fallback.endpoint} answered {call.status} as promised")
    got = call.error or ", ".join(call.problems) or f"status {call.status}"
    return Verdict(name, Status.FAIL, measured, f"{fallback.endpoint} answered {call.status}, not the promised "
                   f"fallback ({got})")


def recovery_verdict(dependency: str, after_s: float | None, within_s: float) -> Verdict:
    """Once the fault is lifted, every request needing ``dependency`` works again within ``within_s``."""
    name = f"{dependency} fault lifted: recovered within {within_s:g}s"
    if after_s is None or after_s > within_s:
        return Verdict(name, Status.FAIL, {"after_s": after_s, "within_s": within_s},
                       f"requests needing {dependency} still failing {within_s:g}s after the fault was lifted")
    return Verdict(name, Status.PASS, {"after_s": after_s, "within_s": within_s},
                   f"requests needing {dependency} answered again after {after_s:g}s")
