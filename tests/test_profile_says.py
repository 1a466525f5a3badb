"""What a profile can say about a real web service, and the messages a new user acts on (issue 20, items 3-4).

A journey logs in through an HTML form with a CSRF token against a real stdlib HTTP server, keeping its session
cookie and following a ``Location`` and a link; ``{lb.url}`` and ``{env.NAME}`` render in the local target's
commands, setup and files, masked in its logs; ``service.metrics.auth`` reaches Prometheus through a 0600 file;
every profile problem comes in one round; ``gameday faults`` lists the faults. No stack: everything here is fast.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pytest
import yaml

from gameday.calls import Client
from gameday.faults import FAULTS
from gameday.profile import Profile, ProfileError
from gameday.profile import load as load_profile
from gameday.state import StateDir
from gameday.targets.local import monitoring
from gameday.targets.local.programs import StackContext
from gameday.targets.local.service import LAUNCHER, Service
from gameday.targets.model import TargetError
from tests.helpers import runbook_link

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "tok-" + secrets.token_hex(8)  # an {env.NAME} secret: it must never be shown
PASSWORD = "pw-" + secrets.token_hex(8)


def _write(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "gameday.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _base(**extra: Any) -> dict[str, Any]:
    return {"service": {"name": "shop"}, "endpoints": [{"name": "home", "path": "/"}], **extra}


# --- a Django-like shop: a login form with a CSRF token, a session cookie, a redirect, a link -----------------
class Shop(BaseHTTPRequestHandler):
    """GET /login sets csrftoken and renders it in the form; POST /login checks both, sets sessionid and redirects
    to an absolute URL (as a service behind a proxy writes it); /account links to an order; both need the session."""

    sessions: ClassVar[set[str]] = set()

    def log_message(self, *args: Any) -> None:
        pass

    def _cookies(self) -> dict[str, str]:
        pairs = [p.strip().split("=", 1) for p in self.headers.get("Cookie", "").split(";") if "=" in p]
        return dict(pairs)

    def _answer(self, status: int, body: str = "", kind: str = "text/html", headers: dict[str, str] | None = None):
        data = body.encode()
        self.send_response(status)
        for key, value in {"Content-Type": kind, "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/login":
            token = secrets.token_hex(16)
            form = (f'<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
                    '<input name="username"><input name="password" type="password"></form>')
            return self._answer(200, form, headers={"Set-Cookie": f"csrftoken={token}; Path=/"})
        if self._cookies().get("sessionid") not in self.sessions:
            return self._answer(302, headers={"Location": "/login"})
        if self.path == "/account/?tab=orders":
            return self._answer(200, '<ul><li><a class="order" href="/orders/42/">order 42</a></li></ul>')
        if self.path == "/orders/42/":
            return self._answer(200, json.dumps({"id": 42}), "application/json")
        return self._answer(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        csrf_ok = form.get("csrfmiddlewaretoken") and form.get("csrfmiddlewaretoken") == self._cookies().get(
            "csrftoken")
        if not csrf_ok:
            return self._answer(403, "CSRF verification failed")
        if (form.get("username"), form.get("password")) != ("alice", PASSWORD):
            return self._answer(200, "wrong password")
        session = secrets.token_hex(8)
        self.sessions.add(session)
        host, port = self.server.server_address[:2]
        return self._answer(302, headers={"Location": f"http://{host}:{port}/account/?tab=orders",
                                          "Set-Cookie": f"sessionid={session}; Path=/; HttpOnly"})


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LOGIN = {"name": "buy", "steps": [
    {"path": "/login", "capture": {"csrf": {"regex": r'name="csrfmiddlewaretoken" value="([^"]+)"'}}},
    {"method": "POST", "path": "/login", "expect": 302,
     "form": {"csrfmiddlewaretoken": "{csrf}", "username": "alice", "password": "{env.SHOP_PASSWORD}"},
     "capture": {"next": {"header": "location"}, "session": {"cookie": "sessionid"}}},
    {"path": "{next}", "capture": {"order": {"regex": r'<a class="order" href="(/orders/\d+/)"'}}},
    {"path": "{order}", "expect": {"status": 200, "json": [{"path": "$.id", "equals": 42}]}},
]}


def test_a_journey_logs_in_through_a_form_keeps_its_session_and_follows_location_and_a_link(shop: str) -> None:
    profile = Profile.model_validate(_base(journeys=[LOGIN]))
    with Client(shop, environ={"SHOP_PASSWORD": PASSWORD}) as client:
        run, captured = client.journey(profile.journeys[0])
        assert run.ok, run.describe()
        assert captured["next"].endswith("/account/?tab=orders") and captured["order"] == "/orders/42/"
        assert captured["session"] in Shop.sessions
        again, second = client.journey(profile.journeys[0])  # a session of its own: logged in again
        assert again.ok and second["session"] != captured["session"]
        # outside a journey no cookie is kept: the account page sends an anonymous caller to the login form
        anonymous = client.call(Profile.model_validate(_base(endpoints=[{"name": "a", "path": "/account/?tab=orders",
                                                                          "expect": 302}])).endpoints[0])
        assert anonymous.ok, anonymous.describe()
        assert all(PASSWORD not in c.describe() for c in run.calls)


def test_the_server_really_checks_the_token_and_a_capture_that_matches_nothing_is_named(shop: str) -> None:
    forged = json.loads(json.dumps(LOGIN))
    forged["steps"][0]["capture"] = {"csrf": {"regex": "value=\"(nothing-like-this)\""}}
    profile = Profile.model_validate(_base(journeys=[forged]))
    with Client(shop, environ={"SHOP_PASSWORD": PASSWORD}) as client:
        run, _ = client.journey(profile.journeys[0])
    assert not run.ok and "capture csrf (regex" in run.describe() and "matched nothing" in run.describe()
    forged["steps"][0]["capture"] = {"csrf": {"cookie": "csrftoken"}}  # double-submit: the cookie is the token too
    forged["steps"][1]["form"]["csrfmiddlewaretoken"] = "forged-{csrf}"
    profile = Profile.model_validate(_base(journeys=[forged]))
    with Client(shop, environ={"SHOP_PASSWORD": PASSWORD}) as client:
        run, _ = client.journey(profile.journeys[0])
    assert not run.ok and run.calls[-1].status == 403, run.describe()


def test_bad_captures_are_refused_with_the_field(tmp_path: Path) -> None:
    steps = [{"path": "/a", "capture": {"a": {"regex": "(unclosed"}, "b": {"header": "X", "cookie": "y"},
                                        "c": {"css": "input[name=csrf]"}, "d": "$.ok"}},
             {"path": "/b", "json": {"x": 1}, "form": {"y": "2"}}]
    with pytest.raises(ProfileError) as caught:
        load_profile(_write(tmp_path, _base(journeys=[{"name": "j", "steps": steps}])))
    text = str(caught.value)
    assert "journeys[0].steps[0].capture.a: not a regular expression" in text
    assert "capture.b: give exactly one of json, header, cookie or regex" in text
    assert "capture.c.css: unknown key" in text
    assert "journeys[0].steps[1]: give json or form, not both" in text


# --- {lb.url} and {env.NAME} in the local target's strings, masked in its logs --------------------------------
def _local_profile(folder: Path) -> Path:
    return _write(folder, _base(local={
        "command": ["{python}", "-c", "pass", "--public", "{lb.url}", "--token", "{env.GD_C_TOKEN}"],
        "environment": {"PUBLIC_URL": "{lb.url}/", "API_TOKEN": "{env.GD_C_TOKEN}"},
        "config": {"SITE_URL": "{lb.url}"},
        "files": [{"name": "ini", "content": "[app]\nurl = {lb.url}\ntoken = {env.GD_C_TOKEN}\n"}],
        "setup": [["{python}", "-c", "import sys; print('migrated with', sys.argv[1:])", "{env.GD_C_TOKEN}",
                   "{lb.url}"]],
    }))


def test_lb_url_and_env_render_everywhere_and_logs_show_the_command_masked(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GD_C_TOKEN", TOKEN)
    state = StateDir(tmp_path / "state").ensure()
    ports = {"load-balancer": 18080, "replica-0": 18000}
    service = Service(load_profile(_local_profile(tmp_path)), state, ports, sys.executable)
    config = service.live_config()
    assert config == {"SITE_URL": "http://127.0.0.1:18080"}  # known at up; no secret stored in it
    spec = service.render_replica("replica-0", "1.0.0", config)
    assert spec.command[3:] == ["--public", "http://127.0.0.1:18080", "--token", TOKEN]
    assert spec.environment == {"PUBLIC_URL": "http://127.0.0.1:18080/", "API_TOKEN": TOKEN}
    ini = (service.replica_dir("replica-0") / "ini").read_text()
    assert ini == f"[app]\nurl = http://127.0.0.1:18080\ntoken = {TOKEN}\n"
    assert TOKEN not in spec.shown and "--public http://127.0.0.1:18080 --token ***" in spec.shown

    service.run_setup(config, {}, timeout=30)
    log = (state.logs / "setup.log").read_text()
    assert TOKEN not in log, log
    assert "*** http://127.0.0.1:18080" in log.splitlines()[0]  # the rendered command, not {env.GD_C_TOKEN}
    assert "migrated with ['***', 'http://127.0.0.1:18080']" in log  # its output, masked too

    path = service.write_replica("replica-0", "1.0.0", config)  # the replica's log starts with what it ran
    started = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), str(path)], capture_output=True,
                             text=True, check=False, timeout=30)
    assert started.returncode == 0 and TOKEN not in started.stderr
    assert started.stderr.startswith("gameday launcher: $ ") and "--token ***" in started.stderr


def _gameday(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True,
                          check=False, cwd=ROOT, env=env, timeout=60)


def test_a_missing_env_variable_is_one_line_and_exit_2_at_check_and_up(tmp_path: Path) -> None:
    path = _local_profile(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "GD_C_TOKEN"}
    state = tmp_path / "never-made"
    env["GAMEDAY_STATE_DIR"] = str(state)
    for command in (["profile", "check"], ["up"]):
        res = _gameday("--profile", str(path), *command, env=env)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        said = ("the environment variable GD_C_TOKEN is not set: {env.GD_C_TOKEN} is used in local.command[6], "
                "local.environment.API_TOKEN, local.setup[0][3], local.files[0].content")
        assert len(lines) == 1 and said in lines[0], lines
    assert not state.exists()  # refused before anything was made


def test_every_problem_of_a_profile_in_one_round(tmp_path: Path) -> None:
    data = _base(local={"command": ["{python}", "-c", "pass"], "replicas": 0,
                        "setup": [["{python}", "{postgress.dsn}"]]},
                 dependencies=[{"name": "postgres", "kind": "postgres"}],
                 journeys=[{"name": "j", "steps": [{"path": "/a", "capture": {"id": "$[bad"}},
                                                   {"path": "/b/{id}"}, {"path": "/c/{nothing}"}]}],
                 slo={"max_eror_rate": 0.01})
    with pytest.raises(ProfileError) as caught:
        load_profile(_write(tmp_path, data))
    problems = caught.value.problems
    assert any("slo.max_eror_rate: unknown key (did you mean 'max_error_rate'?)" in p for p in problems)
    assert any("local.replicas: Input should be greater than or equal to 1" in p for p in problems)
    assert any("journeys[0].steps[0].capture.id: not a JSONPath" in p for p in problems)
    # the placeholder problems of the same file, in the same round
    assert any("local.setup[0][1]: placeholder {postgress.dsn} names no dependency" in p for p in problems)
    # journeys[0]'s {id} and {nothing} follow from its capture left out: said after that capture is fixed
    assert not any("{id}" in p for p in problems)
    assert len(problems) == 4, problems


# --- credentials of service.metrics ---------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [{"username": "scraper", "password": "{env.GD_C_METRICS}"},
                                  {"bearer_token": "{env.GD_C_METRICS}"}])
def test_metrics_credentials_reach_prometheus_through_a_private_file(tmp_path: Path, auth: dict[str, str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    reference = yaml.safe_load((ROOT / "profiles" / "ecommerce-backend.yaml").read_text())
    reference["service"].setdefault("metrics", {})["auth"] = auth
    reference["local"]["working_dir"] = str(ROOT)
    profile = load_profile(_write(tmp_path, reference))
    names = ["replica-0", "replica-1", "replica-2"]
    ports = {key: 21000 + i for i, key in enumerate(["load-balancer", "haproxy-metrics", *names,
                                                      *monitoring.PORT_KEYS])}
    state = StateDir(tmp_path / "state").ensure()
    ctx = StackContext(state=state, ports=ports, replica_names=names, python=sys.executable,
                       service=Service(profile, state, ports, sys.executable), runbook=runbook_link(profile))
    monkeypatch.delenv("GD_C_METRICS", raising=False)
    with pytest.raises(TargetError, match=r"service\.metrics\.auth\.(password|bearer_token): .*GD_C_METRICS"):
        monitoring.write_configs(ctx)
    monkeypatch.setenv("GD_C_METRICS", TOKEN)
    paths = monitoring.write_configs(ctx)  # promtool checks the configuration when it is installed
    text = paths["prometheus"].read_text()
    assert TOKEN not in text
    job = next(j for j in yaml.safe_load(text)["scrape_configs"] if j["job_name"] == profile.service.name)
    if "password" in auth:
        assert job["basic_auth"]["username"] == "scraper"
        secret_file = Path(job["basic_auth"]["password_file"])
    else:
        assert job["authorization"]["type"] == "Bearer"
        secret_file = Path(job["authorization"]["credentials_file"])
    assert secret_file.read_text() == TOKEN and stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_metrics_credentials_never_written_in_the_profile(tmp_path: Path) -> None:
    data = _base()
    data["service"]["metrics"] = {"auth": {"username": "u", "password": "hunter22"}}
    with pytest.raises(ProfileError, match=r"password: expected \{env.NAME\}: a secret is never written"):
        load_profile(_write(tmp_path, data))


# --- the faults, listed with their parameters -----------------------------------------------------------------
def test_faults_and_inject_help_list_every_fault_with_its_parameters() -> None:
    listed = json.loads(_gameday("faults", "--json").stdout)
    assert [f["name"] for f in listed] == sorted(FAULTS)
    by_name = {f["name"]: f for f in listed}
    assert {"name": "dependency", "type": "string", "required": True, "default": None,
            "description": FAULTS["stop-dependency"].parameters()["dependency"]} in by_name["stop-dependency"][
        "parameters"]
    rounds = next(p for p in by_name["kill-replicas"]["parameters"] if p["name"] == "rounds")
    assert rounds["type"] == "integer" and rounds["default"] == 1 and not rounds["required"]
    helped = " ".join(_gameday("inject", "--help", env={**os.environ, "COLUMNS": "200"}).stdout.split())
    for name, fault in FAULTS.items():
        assert f"{name}: {fault.description}" in helped
        for param in fault.parameters():
            assert f"-p {param}=" in helped


@pytest.mark.slow
def test_locust_runs_the_same_form_journey_and_judges_the_redirect_itself(shop: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The load generator judges a login form's 302 as gameday's own client does: not followed (a followed redirect
    answers 200 and every login would count as failed), its Location captured, the session's cookie kept, the
    CSRF token read from the page."""
    from gameday.load.runner import LoadSpec, run_load

    monkeypatch.setenv("SHOP_PASSWORD", PASSWORD)
    path = _write(tmp_path, _base(journeys=[LOGIN], load={"users": 1, "mix": [{"journey": "buy", "weight": 1}]}))
    result = run_load(LoadSpec(host=shop, users=1, duration_s=3, wait=(0.0, 0.05), profile=path,
                               out_dir=tmp_path / "load"))
    steps = {e["name"]: e for e in result.stats if e.get("name") != "Aggregated"}
    assert result.failures == 0, steps
    assert any(name.startswith("buy:") and "POST" in name and e["num_requests"] > 0 for name, e in steps.items())
    assert steps["buy: GET {order}"]["num_requests"] > 0, steps  # the last step ran: every capture was found
