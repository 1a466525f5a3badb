"""The service's load, from its profile: users built from the profile's journeys and endpoints, with its mix.

Run it the way locust users expect (web UI on http://127.0.0.1:8089):

    GAMEDAY_PROFILE=profiles/ecommerce-backend.yaml locust -f loadtests/locustfile.py --host http://127.0.0.1:PORT

gameday runs it headless in a subprocess (``gameday/load/runner.py``), passes the profile in ``GAMEDAY_PROFILE``
and adds its per-second timeline plugin with ``-f loadtests/locustfile.py,gameday/load/locust_timeline.py``.
A team with a locustfile of its own passes ``--locustfile``; this one is the default.

It imports only the pure parts of gameday (the profile model and the placeholder syntax: pydantic, PyYAML,
jsonpath2), after locust has gevent-patched the process, so nothing of gameday's networking is touched.

The mix (``load.mix``): each entry is a task with its weight; a journey runs its steps in order, later steps
filled with what earlier ones captured, and stops at the first step not answered as expected. An endpoint whose
placeholders need a captured value (an order id) waits until one of the user's journeys captured it.
Every user first runs ``detection.setup`` (when the profile has one) for such values.

Knobs (environment):
  GAMEDAY_PROFILE        the profile (default: ./gameday.yaml, else the reference service's)
  GAMEDAY_LOAD_WAIT      "MIN,MAX" seconds between a user's tasks (default: the profile's load.think_time_s;
                         gameday smoke uses "0,0.02")
  GAMEDAY_LOAD_TIMEOUT   seconds before a request counts as failed (default 5)

A request fails when it is not answered with the status the profile expects (a refused connection, a reset or a
timeout included): a failed request in locust's statistics, never an error of the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, between

from gameday import placeholders
from gameday.profile import Endpoint, Journey, Profile, ProfileError, Request, load, on_service


def _profile() -> Profile:
    try:
        return load(os.environ.get("GAMEDAY_PROFILE") or None)
    except ProfileError as exc:
        raise SystemExit(f"GAMEDAY_PROFILE: {exc}") from None


def _wait_bounds(profile: Profile) -> tuple[float, float]:
    raw = os.environ.get("GAMEDAY_LOAD_WAIT")
    if not raw:
        return profile.load.think_time_s
    try:
        low, high = (float(x) for x in raw.split(","))
    except ValueError:
        raise SystemExit(f"GAMEDAY_LOAD_WAIT={raw!r}: expected 'MIN,MAX' seconds") from None
    if not 0 <= low <= high <= 60:
        raise SystemExit(f"GAMEDAY_LOAD_WAIT={raw!r}: expected 0 <= MIN <= MAX <= 60")
    return low, high


def _timeout() -> float:
    raw = os.environ.get("GAMEDAY_LOAD_TIMEOUT", "5")
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"GAMEDAY_LOAD_TIMEOUT={raw!r}: expected seconds") from None
    return min(max(value, 0.1), 60.0)


PROFILE = _profile()


class MissingValue(Exception):
    """A placeholder with no value yet (nothing captured it so far): the request is not sent."""


def _lookup(values: dict[str, Any]) -> Callable[[str], Any]:
    def lookup(name: str) -> Any:
        if name.startswith(placeholders.ENV_PREFIX):  # a secret: remembered, so that it can be masked
            return placeholders.env_value(name.removeprefix(placeholders.ENV_PREFIX), os.environ)
        if name == "uuid":
            return uuid.uuid4().hex
        if name not in values:
            raise MissingValue(name)
        return values[name]

    return lookup


class ProfileUser(FastHttpUser):
    """One user of the service, doing what the profile's mix says, in its proportions."""

    wait_time = between(*_wait_bounds(PROFILE))
    network_timeout = _timeout()
    connection_timeout = min(_timeout(), 2.0)

    def on_start(self) -> None:
        """Values of this user's own (a run id for carts and the like), then the setup journey's captures."""
        self.values: dict[str, Any] = {"run_id": uuid.uuid4().hex[:12]}
        if PROFILE.detection.setup:
            self._journey(PROFILE.journey(PROFILE.detection.setup))

    def send(self, request: Request, name: str, values: dict[str, Any]) -> tuple[bool, Any]:
        """One request, judged against the profile's expected status: (as expected, the parsed JSON or None)."""
        lookup = _lookup(values)
        try:
            path = on_service(placeholders.render(request.path, lookup))
            headers = {k: placeholders.render(v, lookup) for k, v in request.headers.items()}
            body = placeholders.render_value(request.json_body, lookup) if request.json_body is not None else None
            form = {k: placeholders.render(v, lookup) for k, v in request.form.items()} if request.form else None
        except (MissingValue, placeholders.MissingPlaceholder):
            return False, None  # not sent: nothing captured what it needs yet
        if form is not None:  # an HTML form, urlencoded as a browser sends it
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        # redirects are not followed: the profile's expected status is the answer's own (a login form's 302), as
        # gameday's own client judges it; a journey follows a Location by capturing it
        with self.client.request(request.method, path, name=name, headers=headers or None, json=body,
                                 data=urlencode(form) if form is not None else None, catch_response=True,
                                 allow_redirects=False) as resp:
            if resp.status_code != request.expect.status:
                got = f"no answer: {resp.error!r}" if not resp.status_code else str(resp.status_code)
                resp.failure(f"{got} (expected {request.expect.status})")
                return False, None
            resp.success()
            return True, resp

    def _endpoint(self, endpoint: Endpoint) -> None:
        self.send(endpoint, endpoint.name, self.values)

    def _journey(self, journey: Journey) -> None:
        values = {**self.values, "run_id": uuid.uuid4().hex[:12]}
        for i, step in enumerate(journey.steps):
            ok, resp = self.send(step, f"{journey.name}: {journey.step_name(i)}", values)
            if not ok:
                return
            if not step.capture:
                continue
            answer, text = _answer(resp)
            cookies = {c.name: c.value for c in self.client.cookiejar}  # the user's session, as a browser keeps it
            for key, capture in step.capture.items():
                found = capture.take(answer, resp.headers, cookies, text)
                if found is None:
                    return
                values[key] = found
                self.values[key] = found


def _answer(resp: Any) -> tuple[Any, str]:
    """The answer's parsed JSON (None when it is not JSON) and its text, for the step's captures."""
    text = resp.text or ""
    try:
        return resp.json(), text
    except Exception:  # not JSON: a page, read by regex captures
        return None, text


def _task(entry_journey: str | None, entry_endpoint: str | None) -> Callable[[ProfileUser], None]:
    if entry_journey is not None:
        journey = PROFILE.journey(entry_journey)
        return lambda user: user._journey(journey)
    endpoint = PROFILE.endpoint(entry_endpoint or "")
    return lambda user: user._endpoint(endpoint)


ProfileUser.tasks = {_task(e.journey, e.endpoint): e.weight for e in PROFILE.mix()}
