"""HTTP calls to the service, as the profile describes them: the one result type, endpoints and journeys.

Every part of gameday that talks to the service over HTTP (the smoke gate, the symptoms probes, the game day's prober,
``profile check``, the Gherkin steps) goes through :class:`Client` and gets a :class:`Call`, so "ok", "success" and
"failed" mean one thing everywhere:

- ``ok``: the answer a healthy service gives (the expected status, and every JSON assertion holds);
- ``success``: any 2xx;
- ``failed``: a 5xx or no answer at all (refused, reset, timed out) — what the runbook's Symptoms count.

Header values and captured values may be secrets (``{env.API_TOKEN}``, a login token): they are sent, never kept in
a Call, never printed. A ``{env.NAME}`` value in a path, a query or a body is sent as it is and masked (``***``) in
the Call: its path, error and problems are what people read, in ``profile check``, journals and reports. The
answer's headers and (for a regex capture) text are kept for captures only, never in :meth:`Call.to_dict`.

A journey run is a session, as a browser's: the cookies its answers set go with its later steps and nowhere else
(no cookie is kept between other calls), so a journey logs in through a form (``form:``, a CSRF token captured by
``regex``) and follows a ``Location`` or a link (captured by ``header`` or ``regex``).
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from gameday import placeholders, tls
from gameday.profile import (
    REQUEST_BUILTINS,
    Assertion,
    Capture,
    Endpoint,
    Journey,
    Profile,
    Request,
    json_matches,
    on_service,
)

BODY_LIMIT = 64 * 1024  # bodies larger than this are not parsed (a listing can be big; assertions need the start)
TEXT_LIMIT = 1024 * 1024  # what a regex capture reads of a page: a shop's pages are large, its form near the end


def failed_status(status: int | None) -> bool:
    """What the runbook's users see as a failure: a 5xx, or no answer at all (None). The one place that says so:
    calls, the load balancer's request log and the replicas' own counters all judge by it."""
    return status is None or status >= 500


@dataclass(frozen=True)
class Call:
    """What one request got: a status, or None when no HTTP answer came."""

    name: str
    method: str
    path: str
    status: int | None
    expect: int
    elapsed_ms: float
    error: str = ""  # why there was no answer, or why the answer is not the expected one
    problems: tuple[str, ...] = ()  # JSON assertions that did not hold
    body: Any = field(default=None, compare=False, repr=False)  # parsed JSON (None when not JSON)
    # what captures read besides the JSON: never in to_dict (a Set-Cookie or a page may carry a session)
    headers: httpx.Headers | None = field(default=None, compare=False, repr=False)
    text: str = field(default="", compare=False, repr=False)  # the body as text, when a capture reads it

    @property
    def answered(self) -> bool:
        """An HTTP answer came back."""
        return self.status is not None

    @property
    def ok(self) -> bool:
        """The answer a healthy service gives."""
        return self.status == self.expect and not self.problems

    @property
    def success(self) -> bool:
        """Any 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        """A 5xx or no answer at all."""
        return failed_status(self.status)

    @property
    def label(self) -> str:
        """The request for people: ``GET <endpoint name>``; a step named after its request (``GET <path>``, the
        default name of a journey's step) keeps its name, never ``GET GET <path>``."""
        return self.name if self.name.startswith(f"{self.method} ") else f"{self.method} {self.name}"

    def describe(self) -> str:
        """``GET <path> -> 200 in 4 ms`` or ``GET <path> -> no answer (Connection refused) in 1 ms``."""
        got = f"{self.status}" if self.status is not None else f"no answer ({self.error})"
        text = f"{self.method} {self.path} -> {got} in {self.elapsed_ms:.0f} ms"
        if self.status is not None and self.status != self.expect:
            text += f" (expected {self.expect})"
        if self.problems:
            text += f" ({'; '.join(self.problems)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (without the body)."""
        data = asdict(self)
        for kept_back in ("body", "headers", "text"):
            data.pop(kept_back)
        data["ok"], data["failed"] = self.ok, self.failed
        return data


@dataclass(frozen=True)
class JourneyRun:
    """One run of a journey: its calls in order, stopping at the first that is not ok."""

    name: str
    calls: tuple[Call, ...]
    steps: int
    missing_captures: tuple[str, ...] = ()  # captures that matched nothing

    @property
    def ok(self) -> bool:
        """Every step answered as expected and every capture matched."""
        return len(self.calls) == self.steps and all(c.ok for c in self.calls) and not self.missing_captures

    @property
    def failed(self) -> bool:
        """A step failed the way the runbook's Symptoms count (5xx or no answer)."""
        return any(c.failed for c in self.calls)

    def describe(self) -> str:
        """One line: where it stopped and why."""
        if self.ok:
            total = sum(c.elapsed_ms for c in self.calls)
            return f"journey {self.name}: {self.steps} steps ok in {total:.0f} ms"
        if self.missing_captures:
            return f"journey {self.name}: capture {', '.join(self.missing_captures)} matched nothing"
        bad = next((c for c in self.calls if not c.ok), None)
        where = f"step {len(self.calls)}/{self.steps} {bad.name}: {bad.describe()}" if bad else "did not finish"
        return f"journey {self.name}: {where}"


def fillable(request: Request, values: dict[str, Any]) -> bool:
    """Whether every placeholder of ``request`` has a value: captured, built in (run id, uuid) or ``env.NAME``."""
    return all(n in values or n in REQUEST_BUILTINS or n.startswith(placeholders.ENV_PREFIX)
               for n in request.placeholder_names())


def check_assertions(assertions: list[Assertion], body: Any) -> list[str]:
    """Which of the profile's JSON assertions do not hold for ``body`` (empty: all hold)."""
    problems: list[str] = []
    for a in assertions:
        found = json_matches(a.path, body) if body is not None else []
        if a.exists is not None and bool(found) != a.exists:
            problems.append(f"{a.path} {'missing' if a.exists else 'present'}")
            continue
        if not found:
            if a.exists is None:
                problems.append(f"{a.path} missing")
            continue
        value = found[0]
        if a.type is not None and not _is_type(value, a.type):
            problems.append(f"{a.path} is {type(value).__name__}, expected {a.type}")
        if a.equals is not None and value != a.equals:
            problems.append(f"{a.path} is {value!r}, expected {a.equals!r}")
        if a.not_empty and not (isinstance(value, str | list | dict) and value):
            problems.append(f"{a.path} is empty")
    return problems


def _is_type(value: Any, expected: str) -> bool:
    match expected:
        case "string":
            return isinstance(value, str)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
        case "array":
            return isinstance(value, list)
        case "object":
            return isinstance(value, dict)
    return value is None


class Client:
    """Requests to one base URL; every call bounded by its timeout, never raising for a failed request."""

    def __init__(self, base_url: str, timeout_s: float | None = None, environ: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s  # overrides each request's own timeout when given
        self.environ = os.environ if environ is None else environ
        # no proxies from the environment: gameday's traffic stays on loopback
        # and no cookies kept between calls: each journey run is a session of its own (:meth:`journey`); calls
        # outside a journey (endpoints, probes) carry none, as the profile wrote them
        self._http = httpx.Client(base_url=self.base_url, follow_redirects=False, trust_env=False,
                                  cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])), verify=tls.context())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get(self, path: str, name: str | None = None, expect: int = 200, timeout_s: float = 3.0) -> Call:
        """A plain GET (health and readiness paths), failed after ``timeout_s`` (the client's own when it has one)."""
        return self._send(name or path, "GET", path, {}, None, expect, [], self.timeout_s or timeout_s)

    def call(self, request: Request, values: dict[str, Any] | None = None, name: str | None = None,
             session: httpx.Cookies | None = None, keep_text: bool = False) -> Call:
        """One profile request, its placeholders filled from ``values`` (captures, run id) and the environment;
        ``session``: the cookies of the journey it is a step of (sent, and updated from the answer); ``keep_text``:
        the Call keeps the body's text (a regex capture reads it; a load window's thousands of calls need not)."""
        lookup = self._lookup(values or {})
        try:
            path = on_service(placeholders.render(request.path, lookup))
            headers = {k: placeholders.render(v, lookup) for k, v in request.headers.items()}
            body = placeholders.render_value(request.json_body, lookup) if request.json_body is not None else None
            form = {k: placeholders.render(v, lookup) for k, v in request.form.items()} if request.form else None
        except placeholders.MissingPlaceholder as exc:
            return Call(name or request.path, request.method, request.path, None, request.expect.status, 0.0,
                        error=str(exc))
        return self._send(name or getattr(request, "name", None) or request.path, request.method, path, headers,
                          body, request.expect.status, request.expect.json_, self.timeout_s or request.timeout_s,
                          form, session, keep_text)

    def endpoint(self, endpoint: Endpoint, values: dict[str, Any] | None = None) -> Call:
        """One endpoint of the profile."""
        return self.call(endpoint, values, endpoint.name)

    def journey(self, journey: Journey, values: dict[str, Any] | None = None) -> tuple[JourneyRun, dict[str, Any]]:
        """Run a journey's steps in order, as one session (cookies kept from step to step, as a browser does);
        return the run and every value captured."""
        captured: dict[str, Any] = {"run_id": uuid.uuid4().hex[:12], **(values or {})}
        session = httpx.Cookies()
        calls: list[Call] = []
        missing: list[str] = []
        for i, step in enumerate(journey.steps):
            call = self.call(step, captured, journey.step_name(i), session,
                             keep_text=any(c.regex is not None for c in step.capture.values()))
            calls.append(call)
            if not call.ok:
                break
            for key, capture in step.capture.items():
                found = captured_value(capture, call, session)
                if found is None:
                    missing.append(f"{key} ({capture.describe()} in {journey.step_name(i)})")
                else:
                    captured[key] = found
            if missing:
                break
        return JourneyRun(journey.name, tuple(calls), len(journey.steps), tuple(missing)), captured

    def _lookup(self, values: dict[str, Any]) -> Any:
        def lookup(name: str) -> Any:
            if name.startswith(placeholders.ENV_PREFIX):
                return placeholders.env_value(name.removeprefix(placeholders.ENV_PREFIX), self.environ)
            if name == "uuid":
                return uuid.uuid4().hex
            if name == "run_id" and name not in values:
                return uuid.uuid4().hex[:12]
            if name not in values:
                raise placeholders.MissingPlaceholder(name)
            return values[name]

        return lookup

    def _send(self, name: str, method: str, path: str, headers: dict[str, str], body: Any, expect: int,
              assertions: list[Assertion], timeout: float, form: dict[str, str] | None = None,
              session: httpx.Cookies | None = None, keep_text: bool = False) -> Call:
        """Send the request as rendered; the Call keeps its path, error and problems with the secrets masked."""
        shown, start = placeholders.mask(path), time.monotonic()
        try:
            request = self._http.build_request(method, path, headers=headers, json=body, data=form, timeout=timeout)
            if session is not None:
                session.set_cookie_header(request)
            resp = self._http.send(request)
            if session is not None:
                session.extract_cookies(resp)
        except httpx.HTTPError as exc:
            reason = placeholders.mask(_reason(exc))  # an error may quote the URL
            return Call(name, method, shown, None, expect, (time.monotonic() - start) * 1000, error=reason)
        elapsed = (time.monotonic() - start) * 1000
        parsed = _json(resp)
        problems = tuple(check_assertions(assertions, parsed)) if resp.status_code == expect and assertions else ()
        text = resp.text[:TEXT_LIMIT] if keep_text else ""
        return Call(name, method, shown, resp.status_code, expect, elapsed, body=parsed, headers=resp.headers,
                    text=text, problems=tuple(map(placeholders.mask, problems)))  # a value the answer echoed


def captured_value(capture: Capture, call: Call, session: httpx.Cookies) -> Any:
    """The value ``capture`` takes from a step's answer (and the journey's cookies after it), or None."""
    return capture.take(call.body, call.headers, {c.name: c.value for c in session.jar}, call.text)


def _json(resp: httpx.Response) -> Any:
    if len(resp.content) > BODY_LIMIT or "json" not in resp.headers.get("content-type", ""):
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _reason(exc: httpx.HTTPError) -> str:
    """A short reason a person recognises: Connection refused, timed out, reset."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "Connection refused"
    if "reset" in text.lower():
        return "Connection reset"
    return text.splitlines()[0][:200]


def setup(profile: Profile, client: Client) -> tuple[JourneyRun | None, dict[str, Any]]:
    """Run ``detection.setup`` once (if the profile has one): its run and the values it captured for endpoints."""
    if not profile.detection.setup:
        return None, {}
    return client.journey(profile.journey(profile.detection.setup))


def exercise(profile: Profile, base_url: str,
             timeout_s: float | None = None) -> tuple[list[Call | JourneyRun], dict[str, Any]]:
    """Every endpoint and every journey once (``profile check``): endpoints get the setup journey's captures.

    Returns the results and those captures (callers probing endpoints later need them).
    """
    results: list[Call | JourneyRun] = []
    with Client(base_url, timeout_s) as client:
        run, values = setup(profile, client)
        if run is not None:
            results.append(run)
        for journey in profile.journeys:
            if journey.name != profile.detection.setup:
                results.append(client.journey(journey)[0])
        results += [client.endpoint(ep, values) for ep in profile.endpoints]
    return results, values
