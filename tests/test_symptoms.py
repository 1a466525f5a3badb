"""The runbook's Symptoms as pure functions of calls, and the prober's decisions over observations: at their edges."""

from __future__ import annotations

import pytest

from gameday import symptoms
from gameday.calls import Call
from gameday.errors import UsageError
from gameday.profile import load as load_profile
from gameday.run.prober import detected_at, outage_decided, probes_of, recovered_at
from gameday.runbook.package import find
from gameday.symptoms import Observation


def call(status: int | None, name: str = "catalogue", error: str = "", expect: int = 200, ms: float = 3) -> Call:
    return Call(name, "GET", f"/{name}", status, expect, ms, error=error)


OUTAGE = find("service-outage").symptoms  # what the runbook says every outage shows
REFUSED = call(None, error="Connection refused")
TIMED_OUT = call(None, error="timed out", ms=500)


def test_a_healthy_sample_shows_no_symptom() -> None:
    seen = symptoms.judge([call(200, "health")], [call(200), call(404, "unknown", expect=404)])
    assert not any(seen.values())
    assert symptoms.missing(seen, OUTAGE) == list(OUTAGE)


def test_an_outage_through_the_load_balancer_shows_every_outage_symptom() -> None:
    seen = symptoms.judge([call(503, "health")], [call(503), call(504, "product")])
    assert symptoms.missing(seen, OUTAGE) == []
    assert seen[symptoms.TIMEOUTS]  # the 504 is the load balancer's server timeout
    assert not seen[symptoms.REFUSED]


def test_refused_and_timed_out_are_failures_without_an_answer() -> None:
    seen = symptoms.judge([REFUSED], [TIMED_OUT])
    assert seen[symptoms.REFUSED] and seen[symptoms.TIMEOUTS] and seen[symptoms.ALL_FAILING]
    assert seen[symptoms.ZERO_SUCCESS] and not seen[symptoms.LB_5XX]


def test_a_4xx_is_neither_a_success_nor_a_failed_request() -> None:
    # "all endpoints failing" counts 5xx and no answer; a wrong 4xx is not the outage the runbook describes
    seen = symptoms.judge([], [call(404), call(503, "product")])
    assert not seen[symptoms.ALL_FAILING] and seen[symptoms.ZERO_SUCCESS]


def test_one_endpoint_still_answering_is_not_every_endpoint_failing() -> None:
    seen = symptoms.judge([call(503, "health")], [call(503), call(200, "product")])
    assert not seen[symptoms.ALL_FAILING] and not seen[symptoms.ZERO_SUCCESS]
    assert symptoms.missing(seen, OUTAGE) == [symptoms.ALL_FAILING, symptoms.ZERO_SUCCESS]


def test_nothing_observed_is_no_symptom() -> None:
    assert not any(symptoms.judge([], []).values())
    assert not any(symptoms.over_window([], 0, 10).values())


def _obs(at: float, status: int | None, name: str = "catalogue", health: bool = False, ms: float = 3) -> Observation:
    return Observation(at, call(status, name, error="" if status else "timed out", ms=ms), health=health)


def test_over_a_window_zero_success_needs_a_stretch_not_one_unlucky_probe() -> None:
    one = [_obs(0.0, 200), _obs(0.1, 503), _obs(0.2, 200)]
    assert not symptoms.over_window(one, 0, 1)[symptoms.ZERO_SUCCESS]
    stretch = [_obs(t / 10, 503) for t in range(12)]
    assert symptoms.over_window(stretch, 0, 2)[symptoms.ZERO_SUCCESS]


def test_over_a_window_every_endpoint_must_have_failed() -> None:
    window = [_obs(0.0, 503, "catalogue"), _obs(0.1, 200, "order-lookup"), _obs(0.2, 503, "health", health=True)]
    seen = symptoms.over_window(window, 0, 1)
    assert seen[symptoms.HEALTH_FAILING] and seen[symptoms.LB_5XX] and not seen[symptoms.ALL_FAILING]
    window.append(_obs(0.3, None, "order-lookup", ms=500))
    assert symptoms.over_window(window, 0, 1)[symptoms.ALL_FAILING]
    assert not symptoms.over_window(window, 5, 6)[symptoms.HEALTH_FAILING]  # outside the window


def test_unaffected_endpoints_and_journeys_come_from_the_profile() -> None:
    profile = load_profile()
    endpoints, journeys = symptoms.unaffected(profile, "redis")
    assert "cart" not in [e.name for e in endpoints] and "catalogue" in [e.name for e in endpoints]
    assert [j.name for j in journeys] == ["place-order"]  # checkout needs the cart, in Redis
    endpoints, journeys = symptoms.unaffected(profile, "postgres")
    assert endpoints == [] and journeys == []  # the service's data: nothing works without it
    with pytest.raises(UsageError, match="unknown dependency 'mysql'"):
        symptoms.unaffected(profile, "mysql")


def test_degraded_is_serving_only_when_readiness_and_every_unaffected_call_work() -> None:
    ready = call(200, "readiness")
    assert symptoms.Degraded("redis", ready, (call(200), call(201, "order", expect=201))).serving
    not_ready = symptoms.Degraded("redis", call(503, "readiness"), (call(200),))
    assert not not_ready.serving and "-> 503" in not_ready.not_ok()[0]
    broken = symptoms.Degraded("redis", ready, (call(200), call(500, "order", expect=201)))
    assert not broken.serving and broken.not_ok() == ["GET /order -> 500 in 3 ms (expected 201)"]


# --- the prober's decisions -------------------------------------------------------------------------------
def test_the_probes_are_the_health_path_and_the_profile_detection_endpoints() -> None:
    profile = load_profile()
    probes = probes_of(profile, health_timeout_s=1.5)
    assert [p.name for p in probes] == ["health", *profile.detection.probes]
    assert probes[0].path == profile.service.health_path and probes[0].endpoint is None
    # each fails at the service's own definition of failed, never at the latency SLO: the health check at the
    # platform's readiness timeout, an endpoint at its profile timeout_s
    assert probes[0].timeout_s == 1.5
    by_name = {e.name: e for e in profile.endpoints}
    assert [p.timeout_s for p in probes[1:]] == [by_name[p.name].timeout_s for p in probes[1:]]


def test_detection_needs_two_failures_in_a_row_of_one_series_by_completion() -> None:
    obs = [_obs(10.0, 200), _obs(10.1, 503), _obs(10.2, 200, "order-lookup"), _obs(10.3, 200)]
    assert outage_decided(obs, 10.0) is None  # one failure, then an answer
    # a hang: the probes time out (here at 0.5 s); the second one completes at 10.85
    hang = [_obs(10.0, 200), _obs(10.1, None, ms=500), _obs(10.35, None, ms=500), _obs(10.2, 200, "order-lookup")]
    assert detected_at(hang, 10.0) == pytest.approx(10.85)
    assert outage_decided(hang, 10.2) is None  # the first failure started before `since`


def test_recovery_is_the_first_of_six_successes_in_a_row() -> None:
    obs = [_obs(20.0 + i / 10, 503) for i in range(3)] + [_obs(20.3 + i / 10, 200) for i in range(6)]
    assert recovered_at(obs, 20.0) == pytest.approx(20.303)
    assert recovered_at(obs[:-1], 20.0) is None
