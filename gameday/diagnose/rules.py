"""The root-cause verdict: one pure function of the collected evidence (no target, no clock, no I/O).

The evidence is what an on-call engineer has: replica phases, readiness and restarts as supervisor or the kubelet
report them, endpoints and the load balancer's checks, the rollout history, the configuration's last writes as the
platform records them (:class:`~gameday.targets.base.ConfigChange`), events the platform wrote (never gameday's:
their ``source`` is ``gameday``), the step-3 dependency checks, logs, and the API's answers. Nothing gameday left
as the fault's author is read (``tests/test_diagnose_outside.py`` lists those marks), so an outage caused by hand
gets the same verdict as one gameday caused.

Order of the rules, first match wins:

1. healthy — every replica and endpoint ready, the load balancer up, every dependency answering
   → ``no-outage`` (with ``recovered_from: all-replicas-down`` when every replica was killed or replaced within
   ``RECOVERED_S`` and came back by itself). A dependency whose check failed fast and answered when run again
   (:mod:`~gameday.diagnose.evidence`: "answered 2 of 3 checks") answers: intermittent failures that the service
   serves through are named in the summary, not an outage.
2. a check of one of the profile's dependencies failing every attempt → ``dependency-failure:<dep>`` for a dependency
   the service cannot work without (``on_outage: outage``), even while its replicas still report ready
   (their grace period, or a hung database that readiness does not notice); ``dependency-degraded:<dep>``
   for one it survives (``on_outage: degraded``) while it still serves everything, and a failure when it is
   impacted after all (the profile promised otherwise: that is the finding); ``dependency-hang:<dep>`` when
   that check got no answer in time (run from the replicas' side: through the local target's fault proxy) for a
   critical dependency or while the service is impacted — a blackholed or frozen dependency, the runbook's
   "timeouts and 504". Critical dependencies first, each group in the profile's order. Replicas whose probes
   time out as well are named as the alternative. Only a dependency that answered none of its attempts: one that
   answered some is intermittent, never failed (rule 1 while the service serves, ``dependency-degraded:<dep>``
   below while it is impacted). A critical one failing every attempt is a failure even while users see no impact
   yet: a stopped database looks so from outside during the replicas' grace period.
3. hung replicas — Running (the process is alive), not ready, their probe *timing out* (the load balancer's
   check status ``L7TOUT``, the kubelet's ``Unhealthy`` event "context deadline exceeded"), not refused, not a
   5xx → ``replicas-hanging``; replicas ready whose every API call through the load balancer times out (504, no
   answer) → ``replicas-hanging`` at a lower confidence (a network policy or the load balancer could do the same).
4. replicas alive but not ready (or every API call failing), each running unrestarted for ``bounce_s`` or more, every
   check of a dependency answering, and those replicas' own log lines saying it timed out (a slow dependency that
   tips some calls past their timeouts) → ``dependency-degraded:<dep>`` (the one named most), before any change
   is blamed: what has run for a while and now times out on a dependency says what it waits on.
5. otherwise the latest *recent change* (within ``recent_s``) explains the failure:
   - a rollout to a new version whose replicas crash, restarted since (ready or not at the moment: no healthy
     verdict either), or never get ready, or replicas set to run a command their revision does not have (a
     release by hand) → ``failed-deployment``; not a finished rollout whose replicas started and served on it
     ``bounce_s`` beside ones that merely went unready later (:func:`~gameday.diagnose.changes.served_rollout`);
   - a configuration change (a ConfigMap write, a replica's file edited on disk) after the last rollout — picked
     up by a rollout, by killing or restarting the replicas within ``bounce_s``, or by replicas started since
     (a change no failing replica started on cannot be what they fail on) — with replicas failing since
     → ``configuration-problem``; not while replicas that started on it run ready and unrestarted beside failing
     ones that merely are not ready, nor beside crashing ones once they have served on it ``bounce_s`` (a
     configuration breaks replicas when they start on it: a failure that began later is another's);
   - a dependency answering only some attempts of its check while the service is impacted and nothing above
     explains it → ``dependency-degraded:<dep>`` (intermittent: not down);
   - replicas killed (supervisor saw a SIGKILL; pods replaced without a rollout), or no recent change at all, and
     nothing is ready → ``all-replicas-down``.
6. anything else → ``unknown`` (with the evidence that was seen).

Where the evidence fits two causes, the verdict names the likelier with its ``confidence`` and the other in
``alternatives``.
"""

from __future__ import annotations

from gameday.diagnose.changes import (
    BOUNCE_S,
    GAMEDAY_SOURCE,
    RECENT_S,
    Change,
    episode,
    picked_up,
    platform_events,
    recent_changes,
    runs_revision,
    served_on,
    served_rollout,
)
from gameday.diagnose.evidence import Evidence
from gameday.diagnose.facts import (
    all_replicas_down,
    api_timing_out,
    check_timed_out,
    failing_replicas,
    flaky,
    fully_up,
    hung_replicas,
    logged_dependency,
    probe_timeouts,
    restarted_since_rollout,
)
from gameday.diagnose.lines import (
    MAX_LOG_EVIDENCE,
    ago,
    api_lines,
    config_line,
    dependency_line,
    dependency_words,
    event_line,
    log_lines,
    replica_line,
    service_lines,
)
from gameday.diagnose.verdicts import (
    ACTIONS,
    ALL_REPLICAS_DOWN,
    CONFIGURATION_PROBLEM,
    DEPENDENCY_DEGRADED,
    DEPENDENCY_FAILURE,
    DEPENDENCY_HANG,
    FAILED_DEPLOYMENT,
    KINDS,
    NO_OUTAGE,
    REPLICAS_HANGING,
    TITLES,
    UNKNOWN,
    Verdict,
    dependency_verdict,
    make_verdict,
)
from gameday.profile import Profile
from gameday.targets.model import DependencyCheck

RECOVERED_S = 60.0  # a healthy target whose replicas were all killed this recently "recovered" from an outage


def decide(
    ev: Evidence,
    profile: Profile,
    recent_s: float = RECENT_S,
    bounce_s: float = BOUNCE_S,
) -> Verdict:
    """The root-cause verdict for the evidence of ``profile``'s service (see the module docstring for the rules)."""
    now = ev.collected_at
    ordered = sorted(profile.dependencies, key=lambda d: d.on_outage != "outage")  # stable: profile order kept
    failed_checks = [c for d in ordered for c in ev.dependencies if c.name == d.name and not c.ok]
    flaky_checks = [c for d in ordered for c in ev.dependencies if c.name == d.name and flaky(ev, c)]
    up = fully_up(ev)
    service = service_lines(ev)
    api_down = bool(ev.api) and all(a.failed for a in ev.api)  # probes pass, yet no real request succeeds

    if not ev.replicas and "replicas" in ev.errors:
        return make_verdict(UNKNOWN, f"unknown: the replicas could not be read ({ev.errors['replicas']})",
                        [*service, *(f"{k}: {v}" for k, v in ev.errors.items())])

    restarted = restarted_since_rollout(ev, recent_s, bounce_s)
    if up and not failed_checks and not api_down and not restarted:
        verdict = make_verdict(NO_OUTAGE, "no outage found: every replica and endpoint is ready and every dependency "
                           f"answers{_intermittent(ev, flaky_checks)}",
                               [*service, *(dependency_line(c) for c in ev.dependencies)])
        kills = [c for c in recent_changes(ev, RECOVERED_S, bounce_s) if c.kind == "kill"]
        if kills and len({c.subject for c in kills}) >= len(ev.replicas):
            verdict.recovered_from = ALL_REPLICAS_DOWN
            verdict.summary += f"; every replica was killed {ago(now - kills[-1].at)} ago and came back by itself"
            verdict.evidence += [c.line for c in kills[-len(ev.replicas):]]
        return verdict

    hung = hung_replicas(ev)

    if failed_checks:
        first = failed_checks[0]
        dep = profile.dependency(first.name)
        evidence = [dependency_line(c) for c in failed_checks] + service + log_lines(ev, dep)
        others = f" (also failing: {', '.join(c.name for c in failed_checks[1:])})" if failed_checks[1:] else ""
        if check_timed_out(first) and (dep.on_outage == "outage" or not up):
            verdict = make_verdict(DEPENDENCY_HANG,
                               f"dependency hang: {first.name} accepts connections from the service's side but "
                               f"never answers ({first.detail}): requests waiting on it time out"
                               f"{'' if up else ' and the service is impacted'}{others}",
                               evidence, first.name)
        elif dep.on_outage == "outage" and up:
            verdict = make_verdict(DEPENDENCY_FAILURE,
                               f"dependency failure: {first.name} does not answer ({first.detail}); the service "
                               f"cannot work without it, though its replicas still report ready{others}",
                               evidence, first.name)
        elif up:
            verdict = make_verdict(DEPENDENCY_DEGRADED,
                               f"dependency degraded: {first.name} does not answer ({first.detail}) but every "
                               f"replica is still ready — the service runs degraded{others}",
                               evidence, first.name)
        else:
            survives = "" if dep.on_outage == "outage" else " although its profile says it survives its loss"
            verdict = make_verdict(DEPENDENCY_FAILURE,
                               f"dependency failure: {first.name} does not answer ({first.detail}) and the service "
                               f"is impacted{survives}{others}",
                               evidence, first.name)
        if hung:  # the replicas' probes time out too: they may hang on it, or hang themselves
            verdict.confidence = 0.7
            verdict.alternatives = [(REPLICAS_HANGING, 0.3)]
            verdict.evidence += [line for _, line in hung]
        return verdict

    if hung:
        names = ", ".join(r.name for r, _ in hung)
        evidence = [*(replica_line(r) for r, _ in hung), *(line for _, line in hung), *service,
                    *api_lines(ev)]
        return make_verdict(REPLICAS_HANGING,
                        f"replicas hanging: {names} running but not answering (their probes time out; connections "
                        "are accepted, never answered)", evidence, confidence=0.9)

    failing = failing_replicas(ev)
    kind, changes = episode(recent_changes(ev, recent_s, bounce_s), bounce_s)
    crash_logs = log_lines(ev)

    # alive, failing, and running long enough unrestarted that what they run has proven itself (a release failing
    # at its start is the rule below's, whatever its logs blame)
    waiting = [r for r in ev.replicas if r.phase == "Running" and (api_down or not r.ready)]
    settled = bool(waiting) and all(not r.restarts and r.started_at is not None and r.started_at <= now - bounce_s
                                    for r in waiting)
    if settled and (failing or api_down) and (logged := logged_dependency(ev, profile, {r.name for r in waiting})):
        dep, lines = logged
        impact = ("every API call fails" if api_down else f"{len(failing)}/{len(ev.replicas)} replicas are not ready")
        return make_verdict(DEPENDENCY_DEGRADED,
                        f"dependency degraded: {dep.name} answers its checks, but {lines} of the failing replicas' "
                        f"log lines say it timed out (slow, not down) and {impact}",
                        [*(dependency_line(c) for c in ev.dependencies if c.name == dep.name), *service,
                         *(replica_line(r) for r in failing), *api_lines(ev), *log_lines(ev, dep)], dep.name,
                        confidence=0.6, alternatives=[(UNKNOWN, 0.4)])

    if kind == "deployment" and (failing or restarted):
        rev = changes[-1].revision
        on_it = [r for r in [*failing, *(r for r in restarted if r not in failing)] if rev and runs_revision(r, rev)]
        if rev is not None and on_it and not served_rollout(ev, rev, on_it, bounce_s):
            return make_verdict(FAILED_DEPLOYMENT,
                            f"failed deployment: revision {rev.number} ({rev.version}) was rolled out "
                            f"{ago(now - rev.created_at)} ago and {len(on_it)}/{len(ev.replicas)} of its replicas "
                            f"crash or are not ready",
                            [changes[-1].line, *(replica_line(r) for r in on_it), *service, *crash_logs])

    if kind == "deployment" and api_down and not failing:
        rev = changes[-1].revision
        if rev is not None:
            shown = ", ".join(f"{a.endpoint} {a.status or 'no answer'}" for a in ev.api[:4])
            return make_verdict(FAILED_DEPLOYMENT,
                            f"failed deployment: revision {rev.number} ({rev.version}) was rolled out "
                            f"{ago(now - rev.created_at)} ago; its replicas pass their probes but every API endpoint "
                            f"fails ({shown})",
                            [changes[-1].line, f"API through the load balancer: {shown}", *service, *crash_logs])

    if kind == "command" and failing:
        change = changes[-1]
        return make_verdict(FAILED_DEPLOYMENT,
                        f"failed deployment: replicas were set to run another command {ago(now - change.at)} ago, "
                        f"outside the rollout history, and {len(failing)}/{len(ev.replicas)} replicas crash or are "
                        "not ready on it",
                        [change.line, *(replica_line(r) for r in failing), *service, *crash_logs])

    if kind == "config" and failing and picked_up(changes, failing) and not served_on(ev, changes, failing, bounce_s):
        return make_verdict(CONFIGURATION_PROBLEM,
                        f"configuration problem: the configuration changed {ago(now - changes[0].at)} ago and "
                        f"{len(failing)}/{len(ev.replicas)} replicas fail on it",
                        [*(c.line for c in changes[:4]), *(replica_line(r) for r in failing), *service, *crash_logs])

    if up and api_timing_out(ev) and kind not in ("deployment", "command"):
        return make_verdict(REPLICAS_HANGING,
                        "replicas hanging: every replica reports ready, yet every API call through the load balancer "
                        "times out (a replica or the path to it accepts and never answers)",
                        [*service, *api_lines(ev), *crash_logs], confidence=0.6,
                        alternatives=[(UNKNOWN, 0.4)])

    if flaky_checks:  # impacted (healthy otherwise, above), and nothing else explains it: the flaky dependency
        first = flaky_checks[0]
        answered, tried = ev.answered(first.name)
        impact = ("every API call fails" if api_down else
                  f"{len(failing)}/{len(ev.replicas)} replicas are not ready" if failing else "the service is impacted")
        return make_verdict(DEPENDENCY_DEGRADED,
                        f"dependency degraded: {first.name} answers intermittently ({answered} of {tried} checks "
                        f"answered: not down) and {impact}",
                        [*(dependency_line(c) for c in flaky_checks), *service, *api_lines(ev),
                         *log_lines(ev, profile.dependency(first.name))], first.name, confidence=0.7,
                        alternatives=[(UNKNOWN, 0.3)])

    if all_replicas_down(ev):
        if kind == "kill":
            cause = f"replicas were killed {ago(now - changes[-1].at)} ago"
        elif kind in ("deployment", "config", "restart"):
            cause = f"the latest change ({changes[-1].line}) does not explain it"
        else:
            cause = f"no change in the last {ago(recent_s)}"
        return make_verdict(ALL_REPLICAS_DOWN,
                        f"all replicas down with no recent deployment or configuration change: {cause}",
                        [*(replica_line(r) for r in ev.replicas), *service, *(c.line for c in changes[-3:]),
                         *crash_logs])

    lb = ev.load_balancer
    if lb is None or lb.state != "up":
        partial = "the load balancer is " + ("not answering" if lb else "unknown")
    elif failing:
        partial = f"{len(failing)}/{len(ev.replicas)} replicas not ready"
    elif out := [e for e in ev.endpoints if not e.ready]:
        partial = (f"{len(out)}/{len(ev.endpoints)} endpoints out of the load balancer's rotation "
                   f"({', '.join(f'{e.name} {e.state}'.strip() for e in out)})")
    elif api_down:
        partial = "every API endpoint fails through the load balancer"
    else:
        partial = "the service is impacted"
    return make_verdict(UNKNOWN, f"unknown: {partial}, and no recent change or failing dependency explains it",
                    [*(replica_line(r) for r in failing), *service, *(c.line for c in changes[-3:]), *crash_logs,
                     *(f"{k}: {v}" for k, v in ev.errors.items())])


def _intermittent(ev: Evidence, flaky_checks: list[DependencyCheck]) -> str:
    """"" or "; redis answered 2 of 3 checks (intermittent failures the service serves through)"."""
    if not flaky_checks:
        return ""
    counts = ", ".join("{} answered {} of {} checks".format(c.name, *ev.answered(c.name)) for c in flaky_checks)
    return f"; {counts} (intermittent failures the service serves through)"


__all__ = [
    "ACTIONS",
    "ALL_REPLICAS_DOWN",
    "BOUNCE_S",
    "CONFIGURATION_PROBLEM",
    "DEPENDENCY_DEGRADED",
    "DEPENDENCY_FAILURE",
    "DEPENDENCY_HANG",
    "FAILED_DEPLOYMENT",
    "GAMEDAY_SOURCE",
    "KINDS",
    "MAX_LOG_EVIDENCE",
    "NO_OUTAGE",
    "RECENT_S",
    "RECOVERED_S",
    "REPLICAS_HANGING",
    "TITLES",
    "UNKNOWN",
    "Change",
    "Verdict",
    "ago",
    "all_replicas_down",
    "api_timing_out",
    "check_timed_out",
    "config_line",
    "decide",
    "dependency_verdict",
    "dependency_words",
    "episode",
    "event_line",
    "failing_replicas",
    "fully_up",
    "hung_replicas",
    "picked_up",
    "platform_events",
    "probe_timeouts",
    "recent_changes",
    "replica_line",
    "restarted_since_rollout",
    "served_on",
    "served_rollout",
]
