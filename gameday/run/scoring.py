"""One experiment's result, judged: its phases' times, symptoms, the alert against what was expected, the verdict.

The diagnosis and the alert count (``diagnosis="strict"``): an experiment whose diagnosis is wrong, whose expected
alert did not fire or that paged where no outage was expected fails, like one that did not recover. An alert the run
could not judge (it did not wait for it, Prometheus did not answer) is "not judged", said so, never a pass.
``diagnosis="advisory"`` reports both without gating.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from gameday import symptoms
from gameday.alerts import client as alerts
from gameday.alerts.timeline import alert_times
from gameday.chaos import runner
from gameday.chaos.catalogue import CatalogueEntry
from gameday.config import Settings
from gameday.notify import escalation
from gameday.result import Alert, Diagnosis, Escalation, ExperimentResult
from gameday.run import paging
from gameday.run import prober as probing
from gameday.run.track import ExperimentTrack
from gameday.run.verification import Verified
from gameday.runbook.package import Runbook
from gameday.targets.base import Target


class JudgeOptions(Protocol):
    """The options the judgement reads (``GameDayOptions``)."""

    diagnosis: str
    wait_for_alert: bool


class Scorer:
    """Turns what one experiment's run measured into its :class:`ExperimentResult`, and the run's judgement line."""

    def __init__(self, settings: Settings, options: JudgeOptions, target: Target, runbook: Runbook,
                 alert_expected: dict[str, bool]) -> None:
        self.settings = settings
        self.runbook = runbook  # its symptoms, escalation policy and paging alert
        self.options = options
        self.target = target
        self.alert_expected = alert_expected  # whether each experiment's fault must page

    def result(self, entry: CatalogueEntry, track: ExperimentTrack, run: runner.RunResult, prober: probing.Prober,
               verified: Verified, diagnosis: Diagnosis | None, notes: list[dict[str, Any]]) -> ExperimentResult:
        """The experiment's result: times, symptoms, checklist, diagnosis, alert, escalation; its status."""
        observations = prober.snapshot(track.started_at)
        injected = track.injected_at
        detected = detected_at(prober, track)
        resolution = track.resolution_started_at
        recovered = probing.recovered_at(observations, resolution or detected or 0) if detected else None
        seen = symptoms.over_window(observations, injected or track.started_at, resolution or time.time())
        expected_symptoms = list(self.runbook.symptoms) if entry.expects_outage else []
        outage_s = (recovered or time.time()) - detected if detected else None
        alert = verified.alert
        if alert is None:  # not asked beside the verification (cut short), or Prometheus has none
            alert = self.alert(track, injected, detected, cut_short=bool(run.interrupted_by))
        status, message = "passed", run.message
        problems = []
        judged = [] if run.interrupted_by else self.misjudged(diagnosis, alert)
        if run.interrupted_by:
            status = "interrupted"
        elif not run.ok:
            problems.append(run.message)
        if entry.expects_outage and not detected:
            problems.append("no outage seen by the probes")
        if not entry.expects_outage and detected:
            problems.append("an outage was seen although the service should keep serving (degraded)")
        if detected and not recovered:
            problems.append("the service did not come back")
        if not run.interrupted_by and verified.verified_at is None:
            failed = [c.name for c in verified.checklist if c.status != "pass"]
            problems.append(f"verification checklist failed: {', '.join(str(f) for f in failed)}")
        gating = self.options.diagnosis == "strict"
        if gating:
            problems += judged
        if status != "interrupted" and problems:
            status, message = "failed", "; ".join(problems)
        if diagnosis:
            diagnosis.gating = gating
        return ExperimentResult(
            name=entry.name,
            title=entry.title,
            fault=entry.fault,
            params=entry.params,
            expects_outage=entry.expects_outage,
            status=status,
            message=message,
            started_at=track.started_at,
            finished_at=time.time(),
            injected_at=injected,
            fault_in_place_at=track.fault_in_place_at,
            detected_at=detected,
            resolution_started_at=resolution,
            resolution_action=track.resolution_action,
            recovered_at=recovered,
            method_ended_at=track.method_ended_at,
            verification_window=verified.window,
            verified_at=verified.verified_at,
            time_to_detect_s=delta(injected, detected),
            time_to_recover_s=delta(injected, recovered),
            time_to_verify_s=delta(injected, verified.verified_at),
            symptoms_expected=expected_symptoms,
            symptoms_seen=seen,
            checklist=verified.checklist,
            prometheus_cross_check=None,  # Verification.collect
            diagnosis=diagnosis or None,
            alert=alert,
            advisory=[] if gating else judged,  # what would have failed it under --diagnosis strict
            escalation=Escalation(outage_s=outage_s, level=escalation.level(outage_s, self.runbook.escalation),
                                  steps=[s.who for s in escalation.steps_reached(outage_s, self.runbook.escalation)]),
            notifications=notes,
            journal=str(run.journal_path),
            notes=track.notes,
        )

    def alert(self, track: ExperimentTrack, injected: float | None, detected: float | None,
              cut_short: bool) -> Alert | None:
        """When the endpoint-down alert fired and resolved (Prometheus and the receiver), against what was expected.

        ``as_expected`` is None ("not judged", with the reason in ``not_judged``) where the run cannot tell: it did
        not wait for an expected page (``--no-alert-wait``: the resolution may beat the alert's ``for:``), the
        experiment was cut short, Prometheus did not answer, or the alert was already firing when the fault went
        in (an earlier outage's)."""
        prom = self.target.prometheus_url()
        if not prom or injected is None:
            return None
        expected = self.alert_expected.get(track.name, track.expects_outage)
        receiver = self.target.received_alerts_file()
        try:
            times = alert_times(prom, Path(receiver) if receiver else None,
                                self.runbook.paging_alert_name(self.settings.service), injected, time.time())
        except (alerts.PrometheusError, ValueError) as exc:
            return Alert(expected=expected, error=str(exc), as_expected=None,
                         not_judged=f"Prometheus did not answer ({exc})")
        fired = times.fired_at is not None
        not_judged = None
        if times.fired_at is not None and times.fired_at <= injected + 1.0:
            not_judged = "already firing when the fault went in"
        elif expected and not fired and cut_short:
            not_judged = "the experiment was cut short"
        elif expected and not fired and not self.options.wait_for_alert:
            not_judged = "the run did not wait for the alert (--no-alert-wait)"
        longest = round(track.longest_down_s(time.time()), 1)
        needs = track.page_for_s
        if not_judged is None and expected and not fired:
            not_judged = paging.not_due(longest, needs, escalation.escalates_after_s(self.runbook.escalation))
        return Alert(
            **times.as_dict(),
            # Prometheus's activeAt of the alert the run was paged by: when its expression first held (the
            # service's failure as the monitoring saw it); its `for:` counts from there
            active_at=track.alert_active_at,
            expected=expected,
            time_to_fire_s=delta(injected, times.fired_at),
            after_detection_s=delta(detected, times.fired_at),
            as_expected=None if not_judged else fired == expected,
            not_judged=not_judged,
            waited_s=None if track.page_waited_s is None else round(track.page_waited_s, 1),
            needs_s=None if needs is None else round(needs, 1),
            longest_down_s=longest,
        )

    def misjudged(self, diagnosis: Diagnosis | None, alert: Alert | None) -> list[str]:
        """What the on-call engineer would have got wrong: the diagnosis, the page (fails it when strict)."""
        wrong = []
        if not diagnosis:
            wrong.append("no diagnosis was made")
        elif not diagnosis.correct:
            wrong.append(f"diagnosis wrong: {diagnosis.verdict}, expected {diagnosis.expected}")
        name = self.runbook.paging_alert_name(self.settings.service)
        if alert and alert.as_expected is False:
            needs = "?" if alert.needs_s is None else f"{alert.needs_s:g}"
            wrong.append(f"{name} did not fire: waited {alert.waited_s or 0:g}s, the service down "
                         f"{alert.longest_down_s or 0:g}s in a row, the rule's for: {needs}s"
                         if alert.expected else f"{name} fired although no outage was expected")
        return wrong

    def judgement(self, results: list[ExperimentResult]) -> str:
        """One line: the mode, the diagnoses right, the alerts as expected and those not judged (and why)."""
        diagnosed = [r.diagnosis for r in results if r.diagnosis]
        right = sum(1 for d in diagnosed if d.correct)
        judged = [r.alert.as_expected for r in results if r.alert and r.alert.as_expected is not None]
        why = [(r.alert.not_judged if r.alert else None) or ("no Prometheus" if not self.target.prometheus_url()
                                                             else "the fault was not injected")
               for r in results if not r.alert or r.alert.as_expected is None]
        line = (f"diagnosis {self.options.diagnosis}: {right}/{len(diagnosed)} diagnoses right, alerts "
                f"{sum(judged)}/{len(judged)} as expected")
        if why:
            line += f", {len(why)} not judged ({'; '.join(dict.fromkeys(why))})"
        advisory = [f"{r.name}: {p}" for r in results for p in r.advisory]
        if advisory:
            line += f"; advisory, not gating: {'; '.join(advisory)}"
        return line


def detected_at(prober: probing.Prober, track: ExperimentTrack) -> float | None:
    """When the prober first saw the experiment's outage (None: it saw none, or no fault went in)."""
    injected = track.injected_at
    return probing.detected_at(prober.snapshot(track.started_at), injected) if injected else None


def delta(start: float | None, end: float | None) -> float | None:
    """``end - start`` in seconds (2 decimals), or None when either is missing."""
    return round(end - start, 2) if start is not None and end is not None else None
