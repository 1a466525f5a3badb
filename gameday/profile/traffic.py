"""The profile's HTTP side: the requests of the service's API, its endpoints and journeys, and the load mix.

Strings may hold ``{placeholders}``; a journey's later steps use values captured from earlier answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from gameday import placeholders
from gameday.profile.base import HttpMethod, Name, StrictModel
from gameday.profile.jsonpath import compile_path, json_matches


class Assertion(StrictModel):
    """One check on a JSON body, by JSONPath: ``{path: "$.data[0].event_id", exists: true}``."""

    path: str = Field(description="JSONPath into the response body, e.g. $.data[0].id")
    exists: bool | None = Field(None, description="the path matches (true) or does not (false)")
    equals: Any = Field(None, description="the matched value equals this")
    type: Literal["string", "number", "integer", "boolean", "array", "object", "null"] | None = Field(
        None, description="the matched value is of this JSON type")
    not_empty: bool | None = Field(None, description="the matched value is a non-empty string, array or object")

    @field_validator("path")
    @classmethod
    def _parses(cls, value: str) -> str:
        compile_path(value)
        return value


class Expect(StrictModel):
    """What a healthy service answers."""

    status: int = Field(200, ge=100, le=599, description="the HTTP status a healthy service answers")
    json_: list[Assertion] = Field(default_factory=list, alias="json", description="assertions on the JSON body")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _expect(value: Any) -> Any:
    """``expect: 201`` is short for ``expect: {status: 201}``."""
    return {"status": value} if isinstance(value, int) and not isinstance(value, bool) else value


ExpectField = Annotated[Expect, BeforeValidator(_expect, json_schema_input_type=Expect | int)]


class Request(StrictModel):
    """One HTTP request of the service's API; strings may hold ``{placeholders}``."""

    method: HttpMethod = Field("GET", description="HTTP method")
    path: str = Field(pattern=r"^(/|\{)", description="path (and query) on the service, e.g. /v1/orders/{order_id}; "
                      "a captured absolute URL ({next}) is requested on the service: its path and query")
    headers: dict[str, str] = Field(default_factory=dict, description="values may use {env.NAME}: never printed")
    json_body: Any = Field(None, alias="json", description="a JSON body to send")
    form: dict[str, str] | None = Field(
        None, description="an HTML form's fields, sent urlencoded (a login form); values may use placeholders")
    expect: ExpectField = Field(default_factory=Expect, description="the status (or {status, json}) expected")
    timeout_s: float = Field(3.0, gt=0, le=60, description="seconds before the request counts as failed")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def placeholder_names(self) -> set[str]:
        """Every placeholder this request uses."""
        found = set(placeholders.names(self.path)) | set(placeholders.value_names(self.json_body))
        for value in (*self.headers.values(), *(self.form or {}).values()):
            found |= set(placeholders.names(value))
        return found

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        if self.form is not None and self.json_body is not None:
            raise ValueError("give json or form, not both")
        return self


class Endpoint(Request):
    """An endpoint checked by ``profile check``, the smoke gate and the symptoms probes."""

    name: Name = Field(description="a short name used in reports and the load mix")
    needs: list[str] | None = Field(
        None, description="dependencies it cannot answer without (default: every dependency with on_outage: outage)")


class Capture(StrictModel):
    """Where a value of an answer is taken from: exactly one of a JSONPath, a header, a cookie or a regex.

    HTML is read with a regular expression: no CSS-selector library is installed with gameday, and a form's hidden
    field or a link's ``href`` is one line of HTML that a regex names exactly.
    """

    json_: str | None = Field(None, alias="json", description="JSONPath into the JSON answer, e.g. $.id")
    header: str | None = Field(None, description="a response header, e.g. Location (case-insensitive)")
    cookie: str | None = Field(None, description="a cookie of the journey's session after this step, e.g. sessionid")
    regex: str | None = Field(None, description="a regular expression on the body (HTML, text): its first group, "
                              "else the whole match")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_of(self) -> Capture:
        given = [k for k in ("json_", "header", "cookie", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of json, header, cookie or regex")
        if self.json_ is not None:
            compile_path(self.json_)
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {self.regex!r} ({exc})") from None
        return self

    def take(self, body: Any, headers: Mapping[str, str] | None, cookies: Mapping[str, str], text: str) -> Any:
        """The value taken from one answer (its parsed JSON, headers, the session's cookies after it, its text), or
        None: pure, so that gameday's own client and the locustfile capture alike."""
        if self.json_ is not None:
            found = json_matches(self.json_, body) if body is not None else []
            return found[0] if found else None
        if self.header is not None:
            return headers.get(self.header) if headers is not None else None
        if self.cookie is not None:
            return cookies.get(self.cookie)
        assert self.regex is not None
        match = re.search(self.regex, text)
        if match is None:
            return None
        return match.group(1) if match.re.groups else match.group(0)

    def describe(self) -> str:
        """Where it is taken from, for a line saying it matched nothing."""
        if self.json_ is not None:
            return self.json_
        if self.header is not None:
            return f"header {self.header}"
        return f"cookie {self.cookie}" if self.cookie is not None else f"regex {self.regex}"


def on_service(path: str) -> str:
    """A rendered path; a captured absolute URL (a ``Location``, a link) becomes its path and query: a journey
    stays on the service it exercises, whatever host and port the service wrote into its links."""
    if not path.startswith(("http://", "https://")):
        return path
    parts = urlsplit(path)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _capture(value: Any) -> Any:
    """``capture: {id: "$.id"}`` is short for ``capture: {id: {json: "$.id"}}``."""
    return {"json": value} if isinstance(value, str) else value


CaptureField = Annotated[Capture, BeforeValidator(_capture, json_schema_input_type=Capture | str)]


class Step(Request):
    """One step of a journey; ``capture`` names values of its answer for later steps."""

    name: Name | None = Field(None, description="the step's name in reports (default: METHOD path)")
    capture: dict[Name, CaptureField] = Field(
        default_factory=dict, description="name -> a JSONPath into the answer, or {header|cookie|regex: ...}")


class Journey(StrictModel):
    """An ordered user journey; later steps use values captured from earlier answers."""

    name: Name = Field(description="the journey's name")
    steps: list[Step] = Field(min_length=1, description="requests in order")
    needs: list[str] | None = Field(None, description="as for endpoints")

    def step_name(self, index: int) -> str:
        """A step's name for people: its own, else ``METHOD path``."""
        step = self.steps[index]
        return step.name or f"{step.method} {step.path}"


class MixEntry(StrictModel):
    """One line of the load mix: a journey or an endpoint, with its weight."""

    journey: str | None = Field(None, description="a journey's name")
    endpoint: str | None = Field(None, description="an endpoint's name")
    weight: int = Field(1, ge=1, le=1000, description="relative frequency")

    @model_validator(mode="after")
    def _one_of(self) -> MixEntry:
        if (self.journey is None) == (self.endpoint is None):
            raise ValueError("give exactly one of journey or endpoint")
        return self

    @property
    def target(self) -> str:
        """The journey's or endpoint's name."""
        return self.journey or self.endpoint or ""


class Load(StrictModel):
    """The traffic of a game day and of the smoke gate's load window."""

    users: int = Field(4, ge=1, le=200, description="concurrent simulated users")
    think_time_s: tuple[float, float] = Field((0.5, 2.0), description="[min, max] seconds between a user's tasks")
    mix: list[MixEntry] = Field(default_factory=list, description="what users do (default: every endpoint, weight 1)")

    @field_validator("think_time_s")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= value[1] <= 60:
            raise ValueError("expected 0 <= min <= max <= 60")
        return value


