"""Probes of the runbook's dependency resilience (Prevention: circuit breakers, retries, fallback), from users' side:
users call the service through its load balancer while the method's fault acts, and :mod:`gameday.chaos.promises`
judges what they saw against what the profile promises. Experiments call them as ``gameday.chaos.probes.<name>``;
each takes the run's context from chaostoolkit's ``configuration``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from gameday import faults, interrupts, symptoms, tls
from gameday.calls import Client, fillable
from gameday.chaos import promises
from gameday.chaos.context import Configuration, ledger, own_entries, run_context
from gameday.chaos.probe_state import RUN, ProbeFailed
from gameday.chaos.promises import Answer
from gameday.faults.network import NetworkFault
from gameday.profile import Profile
from gameday.targets.base import Target
from gameday.verify.verdicts import load_decided

__all__ = ["breaker_fails_fast", "fallback_as_promised", "recovers_within_slo", "retries_absorb_resets"]

PROMISE_WORKERS = 4  # concurrent users on the endpoints that need the faulty dependency (few: on 2 shared cores more
# back-to-back users only queue, and a fast failure's latency is then the queue's)
FLAKY_WORKERS = 8  # with a flaky one: more users, more pooled connections for the resets to meet
OTHER_WORKERS = 2  # and on those that do not
REROLL_S = 0.05  # how often the flaky fault's toxic is rolled again (every live connection rolls its share again)


def breaker_fails_fast(dependency: str, settle_s: float = 4.0,
                       *, configuration: Configuration = None) -> dict[str, Any]:
    """The dependency is slower than the service's promised timeout (the method's dependency-latency, just
    injected): requests that do not need it keep the SLO, and where a breaker is promised the failures of those
    that need it drop under ``fail_fast_ms`` (p95) within ``opens_within_s`` of the first timeout. Measured for
    ``opens_within_s + settle_s`` through the load balancer at most, and until both verdicts are decided (enough
    failures after the breaker's allowance, the other endpoints' error rate decided); raises with the verdict's
    reason."""
    ctx = run_context(configuration)
    profile, target = ctx.profile, ctx.target
    dep = _promising(profile, dependency, "breaker")
    assert dep.promises is not None and dep.promises.breaker is not None and dep.promises.timeout_ms is not None
    breaker, timeout_ms = dep.promises.breaker, dep.promises.timeout_ms
    injected = [e.params.get("ms", 0) for e in own_entries(ledger(ctx.settings), "dependency-latency")
                if e.params.get("dependency") == dependency]
    if not injected or injected[-1] <= timeout_ms:
        raise ProbeFailed(f"{dependency}: no dependency-latency above its promised {timeout_ms:g} ms timeout was "
                          f"injected by this run (got {injected or 'none'}): nothing would show the breaker")
    max_rate = profile.slo.max_error_rate
    answers = _users(profile, target, dependency, breaker.opens_within_s + settle_s, others=True,
                     decided=lambda seen: promises.breaker_decided(seen, breaker.opens_within_s)
                     and _decided(seen, False, max_rate))
    verdicts = [promises.unaffected_verdict(answers, dependency, profile.slo.p95_ms, max_rate),
                promises.breaker_verdict(answers, dependency, timeout_ms, breaker.opens_within_s,
                                         breaker.fail_fast_ms)]
    return _judged(verdicts, promises.unpromised(profile, "breaker"))


def retries_absorb_resets(dependency: str, window_s: float = 6.0,
                          *, configuration: Configuration = None) -> dict[str, Any]:
    """A fraction of the connections to the dependency are reset (the method's dependency-flaky, just injected):
    where retries are promised, users see under the SLO's error rate on the requests that need it. Measured until
    that error rate is decided (:func:`~gameday.verify.verdicts.load_decided`, the stopping rule of every load
    measured "until decided"), for at most ``window_s``: undecided then is inconclusive, never a pass.

    Toxiproxy decides a toxic's toxicity per connection when the toxic is added: a client's pooled connections
    that were spared would be spared for good, and a pool soon holds only those. So that the share stays at
    work, the fault's own toxic is updated (Toxiproxy's API, unchanged values) every ``REROLL_S``, which rolls it
    again on every live connection (its ledger entry and its undo unchanged): at every moment that share of the
    live connections is reset on its next request. Local target only (its fault proxy's API)."""
    ctx = run_context(configuration)
    profile, target = ctx.profile, ctx.target
    max_rate = profile.slo.max_error_rate
    _promising(profile, dependency, "retries")
    entries = [e for e in own_entries(ledger(ctx.settings), "dependency-flaky")
               if e.params.get("dependency") == dependency]
    if not entries:
        raise ProbeFailed(f"{dependency}: no dependency-flaky injected by this run: nothing would show the retries")
    fault = faults.get_fault("dependency-flaky")
    assert isinstance(fault, NetworkFault)
    toxic = {"name": fault.toxic_name(), **fault.toxic(entries[-1].params)}
    api = (target.status().to_dict().get("fault_proxy") or {}).get("api_url")
    if not api:
        raise ProbeFailed(f"{dependency}: the target has no fault proxy API to roll the resets again")
    with httpx.Client(base_url=api, timeout=2.0, verify=tls.context()) as proxy:

        def reroll() -> None:  # Toxiproxy's toxic update: every live connection rolls its toxicity again
            proxy.post(f"/proxies/{dependency}/toxics/{toxic['name']}",
                       json={"toxicity": toxic["toxicity"]}).raise_for_status()

        answers = _users(profile, target, dependency, window_s, others=False, every=(REROLL_S, reroll),
                         workers=FLAKY_WORKERS, decided=lambda seen: _decided(seen, True, max_rate))
    verdict = promises.retries_verdict(answers, dependency, entries[-1].params.get("fraction", 0.1), max_rate)
    return _judged([verdict], promises.unpromised(profile, "retries"))


def fallback_as_promised(dependency: str, within_s: float = 20.0,
                         *, configuration: Configuration = None) -> dict[str, Any]:
    """The dependency is unreachable (the method cut it off): the promised fallback endpoint answers exactly the
    promised fallback (status and JSON), within ``within_s``; raises with what it answered instead."""
    ctx = run_context(configuration)
    profile, target = ctx.profile, ctx.target
    dep = _promising(profile, dependency, "fallback")
    assert dep.promises is not None and dep.promises.fallback is not None
    fallback = dep.promises.fallback
    endpoint = profile.endpoint(fallback.endpoint).model_copy(update={"expect": fallback.expect})
    values = RUN.get("values", {})
    started = time.monotonic()
    with Client(target.base_url(), target.answer_timeout_s()) as client:
        while True:
            verdict = promises.fallback_verdict(client.endpoint(endpoint, values), dependency, fallback)
            if verdict.passed or time.monotonic() - started >= within_s:
                break
            interrupts.pause(0.25)  # poll (a safe point)
    return {**_judged([verdict], promises.unpromised(profile, "fallback")),
            "after_s": round(time.monotonic() - started, 2)}


def recovers_within_slo(dependency: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """After the fault on the dependency is lifted, every endpoint that needs it answers as expected again within
    the SLO's ``recover_within_s`` (a breaker that stays open is no recovery)."""
    ctx = run_context(configuration)
    profile, target = ctx.profile, ctx.target
    values = RUN.get("values", {})
    needing = [e for e in profile.endpoints if dependency in profile.needs(e) and fillable(e, values)]
    within = profile.slo.recover_within_s
    started = time.monotonic()
    after: float | None = None
    with Client(target.base_url(), target.answer_timeout_s()) as client:
        while time.monotonic() - started < within:
            if all(client.endpoint(e, values).ok for e in needing):
                after = round(time.monotonic() - started, 2)
                break
            interrupts.pause(0.2)  # poll (a safe point)
    return _judged([promises.recovery_verdict(dependency, after, within)], [])


def _promising(profile: Profile, dependency: str, promise: str) -> Any:
    """The dependency, when it makes ``promise``; a promise not made is a finding, never a pass: raise it."""
    dep = profile.dependency(dependency)  # UsageError naming the known ones
    if dep.promises is None or not getattr(dep.promises, promise):
        finding = next(f for f in promises.unpromised(profile, promise) if f" for {dependency} " in f)
        raise ProbeFailed(f"{profile.service.name}: {finding}: nothing to check")
    return dep


def _judged(verdicts: list[Any], findings: list[str]) -> dict[str, Any]:
    """The verdicts as a probe's output; raise with the first one that did not pass, saying why."""
    failed = next((v for v in verdicts if not v.passed), None)
    if failed is not None:
        raise ProbeFailed(f"{failed.status.value}: {failed.name}: {failed.explanation}")
    return {"ok": True, "verdicts": [v.to_dict() for v in verdicts], "findings": findings}


def _decided(answers: list[Answer], needs: bool, max_rate: float) -> bool:
    """Whether the error rate of the answers that need the dependency (``needs``) or not is decided."""
    mine = [a for a in answers if a.needs is needs]
    return load_decided(len(mine), sum(1 for a in mine if not a.ok), max_rate)


def _users(profile: Profile, target: Target, dependency: str, seconds: float, others: bool,
           every: tuple[float, Callable[[], None]] | None = None, workers: int = PROMISE_WORKERS,
           decided: Callable[[list[Answer]], bool] | None = None) -> list[Any]:
    """Users calling, back to back, the endpoints that need ``dependency`` (and, with ``others``, those that do
    not) for ``seconds`` through the load balancer: every answer, timed from now. ``every``: (period, action) run
    in this thread meanwhile (at safe points). ``decided``: the answers so far are enough for the verdict (asked at
    each safe point): the users stop then, before ``seconds``, and the answers it was decided on are returned."""
    values = RUN.get("values", {})
    needing = [e for e in profile.endpoints if dependency in profile.needs(e) and fillable(e, values)]
    if not needing:
        raise ProbeFailed(f"no endpoint of {profile.service.name} needs {dependency}: nothing to measure")
    rest = [e for e in symptoms.unaffected(profile, dependency)[0] if fillable(e, values)] if others else []
    base_url, timeout_s = target.base_url(), target.answer_timeout_s()
    started = time.monotonic()
    stop = threading.Event()
    answers: list[Answer] = []
    decision: list[Answer] | None = None
    lock = threading.Lock()

    def user(endpoints: list[Any], needs: bool, offset: int) -> None:
        with Client(base_url, timeout_s) as client:
            i = offset
            while not stop.is_set():
                call = client.endpoint(endpoints[i % len(endpoints)], values)
                i += 1
                answer = Answer(round(time.monotonic() - started, 3), call.ok, call.elapsed_ms, needs,
                                "" if call.ok else f"{call.name} {call.status} {call.error}".strip())
                with lock:
                    answers.append(answer)

    groups = [(needing, True)] * workers + ([(rest, False)] * OTHER_WORKERS if rest else [])
    with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="promise-user") as pool:
        futures = [pool.submit(user, eps, needs, i) for i, (eps, needs) in enumerate(groups)]
        try:
            next_action = started + (every[0] if every else seconds)
            while time.monotonic() - started < seconds:
                if every and time.monotonic() >= next_action:
                    every[1]()
                    next_action += every[0]
                if decided is not None:
                    with lock:
                        seen = list(answers)
                    if decided(seen):
                        decision = seen
                        break
                interrupts.pause(0.02)  # a safe point
        finally:
            stop.set()
        for future in futures:
            future.result()
    # decided: the answers the decision was made on; those of requests in flight when the users stopped came after
    # it, and would turn a decided verdict (1 failure in 17: its lower bound over 1%) undecided again
    return sorted(decision if decision is not None else answers, key=lambda a: a.at_s)
