"""``{env.NAME}`` values are sent and never shown: masked in a call's description wherever the profile put them,
in the journal, chaostoolkit's log, the report, and absent from the load balancer's log. Against a stub service and
a real HAProxy; no stack needed (the end-to-end proof is tests/test_secrets_never_shown.py)."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gameday import placeholders
from gameday.calls import Client
from gameday.chaos.journal import JournalRecorder, MaskedFormatter
from gameday.load.burst import Burst
from gameday.profile import Profile, Readiness
from gameday.profile import load as load_profile
from gameday.report.writer import write_report
from gameday.targets.local import requestlog
from gameday.targets.local.components import TEMPLATES
from tests.helpers import wait_for
from tests.test_report import _report as sample_report

SECRET = "tok/en+9f3a c1"  # a slash, a plus and a space: percent-encoded on the wire, JSON-escaped nowhere
ENV = {"DESK_TOKEN": SECRET}
PROFILE = """
service: {name: desk, health_path: /status, readiness_path: /status}
endpoints:
  - {name: by-path, path: "/v1/keys/{env.DESK_TOKEN}", expect: 200}
  - {name: by-query, path: "/v1/items?key={env.DESK_TOKEN}", expect: 200}
  - name: echo
    path: /v1/echo
    method: POST
    headers: {Authorization: "Bearer {env.DESK_TOKEN}"}
    json: {key: "{env.DESK_TOKEN}"}
    expect: {status: 200, json: [{path: "$.key", equals: "something else"}]}
journeys:
  - name: browse
    steps:
      - {path: /v1/items, expect: 200}
load:
  users: 1
  mix: [{journey: browse, weight: 1}]
"""


class Desk(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str, str, str]]  # method, raw path, Authorization, body
    status = 200


class _Handler(BaseHTTPRequestHandler):
    server: Desk

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: bytes) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization", ""), body.decode()))
        data = body or b"{}"  # an answer that echoes the request (a validation error quoting its input does)
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))


@pytest.fixture
def desk() -> Iterator[Desk]:
    server = Desk(("127.0.0.1", 0), _Handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    path = tmp_path / "gameday.yaml"
    path.write_text(PROFILE)
    return load_profile(path)


def _url(server: Desk) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_secret_is_sent_where_the_profile_puts_it_and_masked_in_every_call(desk: Desk, profile: Profile) -> None:
    with Client(_url(desk), environ=ENV) as client:
        calls = [client.endpoint(ep) for ep in profile.endpoints]
    by_path, by_query, echo = calls
    sent = {(method, path) for method, path, _, _ in desk.seen}
    assert {("GET", "/v1/keys/tok/en+9f3a%20c1"), ("GET", "/v1/items?key=tok/en+9f3a%20c1")} <= sent  # as written
    (post,) = [(auth, body) for method, _, auth, body in desk.seen if method == "POST"]
    assert post[0] == f"Bearer {SECRET}" and json.loads(post[1]) == {"key": SECRET}
    assert by_path.path == "/v1/keys/***" and by_path.describe().startswith("GET /v1/keys/*** -> 200 in ")
    assert by_query.path == "/v1/items?key=***"
    assert echo.body == {"key": SECRET}  # kept for captures, never shown: to_dict() leaves it out
    assert echo.problems == ("$.key is '***', expected 'something else'",)  # the answer echoed it
    shown = [c.describe() for c in calls] + [json.dumps(c.to_dict()) for c in calls] + [repr(c) for c in calls]
    assert not [text for text in shown if SECRET in text or "tok/en" in text]


def test_an_error_line_names_the_method_once(desk: Desk, profile: Profile) -> None:
    desk.status = 503
    with Burst(profile, _url(desk), max_requests=5, max_seconds=5) as burst:
        errors = burst.wait().errors()
    # the journey's step has no name: it is named after its request, which already says GET
    assert list(errors) == ["GET /v1/items: 503 (expected 200)"]


def test_masking_covers_the_forms_a_value_takes_and_leaves_short_values_alone() -> None:
    placeholders.env_value("MASK_TEST", {"MASK_TEST": 'a"b\\c d/e'})
    placeholders.env_value("MASK_SHORT", {"MASK_SHORT": "eu"})  # too short to tell from ordinary text
    text = 'raw a"b\\c d/e, url a%22b%5Cc%20d/e, form a%22b%5Cc+d%2Fe, json ' + json.dumps('a"b\\c d/e')
    assert placeholders.mask(text) == 'raw ***, url ***, form ***, json "***"'
    assert placeholders.mask("europe") == "europe"
    with pytest.raises(placeholders.MissingPlaceholder, match=r"\{env.NOT_SET\}"):
        placeholders.env_value("NOT_SET", {})
    value = {"a d/e": ['a"b\\c d/e', 3, None], "n": ("x a\"b\\c d/e",), "error": ValueError('a"b\\c d/e')}
    assert placeholders.mask_value(value) == {"a d/e": ["***", 3, None], "n": ["x ***"], "error": "***"}


def test_the_journal_and_chaostoolkits_log_mask_secrets(tmp_path: Path) -> None:
    placeholders.env_value("DESK_TOKEN", ENV)
    recorder = JournalRecorder(tmp_path / "journal.json", "x.json")
    recorder.started({}, {"steady_states": {"before": {"probes": [{"output": {"results": [
        f"GET /v1/keys/{SECRET} -> 404 in 1 ms"]}}]}}, "run": []})
    written = (tmp_path / "journal.json").read_text()
    assert SECRET not in written and "GET /v1/keys/*** -> 404" in written
    record = logging.LogRecord("chaostoolkit", logging.INFO, __file__, 1, "probe returned %s", (SECRET,), None)
    assert MaskedFormatter("%(message)s").format(record) == "probe returned ***"


def test_the_report_masks_secrets_in_every_file(tmp_path: Path) -> None:
    placeholders.env_value("DESK_TOKEN", ENV)
    report, seconds = sample_report()  # the report tests' game day, with a secret quoted where text goes
    report["message"] = SECRET
    report["experiments"][1]["message"] = f"probe GET /v1/keys/{SECRET} -> 503"
    report["experiments"][1]["checklist"][0]["detail"] = f"most frequent: GET {SECRET}: 503"
    seconds[12]["errors"] = {f"GET {SECRET}: 503": 45}
    out = write_report(report, seconds, tmp_path / "report")
    assert {p.name for p in out.iterdir()} >= {"report.json", "index.html", "junit.xml", "summary.md"}
    assert not [p.name for p in out.iterdir() if SECRET in p.read_text()]
    assert "probe GET /v1/keys/*** -> 503" in (out / "summary.md").read_text()
    assert report["message"] == SECRET  # the caller's dictionary is left as it was


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_load_balancers_log_has_no_path_and_still_says_who_answered_what_how_fast(desk: Desk) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed")
    base = Path(tempfile.mkdtemp(prefix="gd-lb-"))  # short: the stats socket's path is limited to 107 bytes
    lb = _free_port()
    cfg = base / "haproxy.cfg"
    cfg.write_text(TEMPLATES.get_template("haproxy.cfg.j2").render(
        stats_socket=str(base / "haproxy.sock"), lb_port=lb, metrics_port=_free_port(), service="desk",
        servers=[("replica-0", f"127.0.0.1:{desk.server_address[1]}")], readiness_path="/status",
        readiness=Readiness(), server_timeout_s=2.0))
    log = base / "load-balancer.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([haproxy, "-W", "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
    try:
        with Client(f"http://127.0.0.1:{lb}", environ=ENV) as client:
            wait_for(lambda: client.get(f"/v1/keys/{SECRET}?key={SECRET}").status == 200, 10,
                     what="HAProxy answering through its replica")
        lines = wait_for(lambda: [r for r in map(requestlog.parse, log.read_text().splitlines())
                                  if r is not None and r.frontend == "desk-lb" and r.status == 200], 5,
                         what="the request logged")
    finally:
        proc.terminate()
        proc.wait(10)
        text = log.read_text()
        shutil.rmtree(base, ignore_errors=True)
    assert lines[-1].server == "replica-0" and lines[-1].total_ms >= 0
    assert "/v1/keys" not in text and "tok" not in text and "key=" not in text, text
    assert '"GET"' in text  # the method stays
