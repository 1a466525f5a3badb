"""The service profile: loading, one line per problem, the schema, placeholders, JSON assertions, and the docs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from gameday import placeholders
from gameday.calls import check_assertions, exercise
from gameday.profile import (
    DEFAULT_PROFILE,
    PROFILES_DIR,
    Assertion,
    Profile,
    ProfileError,
    _model_of,
    load,
    locate,
    schema,
)
from gameday.runbook.package import available as available_runbooks
from gameday.runbook.package import missing as missing_runbooks

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, data: object, name: str = "gameday.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


def _reference() -> dict:
    return yaml.safe_load(DEFAULT_PROFILE.read_text())


def _problems(tmp_path: Path, data: object) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load(_write(tmp_path, data))
    return caught.value.problems


@pytest.mark.parametrize("path", sorted(PROFILES_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_profiles_load_and_match_the_schema(path: Path) -> None:
    profile = load(path)
    assert profile.endpoints and profile.service.name
    jsonschema.validate(yaml.safe_load(path.read_text()), schema())


def test_reference_profile_says_what_the_reference_service_survives() -> None:
    profile = load(DEFAULT_PROFILE)
    assert profile.critical() == ["postgres"]
    assert {d.name: d.on_outage for d in profile.dependencies} == {
        "postgres": "outage", "redis": "degraded", "kafka": "degraded"}
    assert [e.name for e in profile.probe_endpoints()] == ["catalogue", "order-lookup"]


def test_unknown_key_is_refused_with_the_closest_valid_name(tmp_path: Path) -> None:
    data = _reference()
    data["slo"]["max_eror_rate"] = data["slo"].pop("max_error_rate")
    problems = _problems(tmp_path, data)
    assert problems == [f"{tmp_path / 'gameday.yaml'}: slo.max_eror_rate: unknown key (did you mean 'max_error_rate'?)"]


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    data = _reference()
    data["local"]["replicas"] = "three"
    (problem,) = _problems(tmp_path, data)
    assert "local.replicas:" in problem and "integer" in problem


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    data = _reference()
    data["local"]["config"]["CACHE"] = "{memcached.host}"
    data["journeys"][0]["steps"][1]["path"] = "/api/products/{nope}"
    data["load"]["mix"].append({"journey": "missing"})
    problems = _problems(tmp_path, data)
    assert len(problems) == 3, problems
    assert any("local.config.CACHE: placeholder {memcached.host} names no dependency" in p for p in problems)
    assert any("journeys[0] (checkout).steps[1]: placeholder {nope} is not captured by an earlier step" in p
               for p in problems)
    assert any(f"load.mix[{len(data['load']['mix']) - 1}].journey: 'missing' names no journey" in p for p in problems)


def test_a_dependency_attribute_its_kind_does_not_offer_is_refused(tmp_path: Path) -> None:
    data = _reference()
    data["local"]["config"]["REDIS_DSN"] = "{redis.dsn}"
    (problem,) = _problems(tmp_path, data)
    assert "placeholder {redis.dsn}: a redis offers host, port, address, url" in problem


def test_unknown_dependency_kind(tmp_path: Path) -> None:
    data = _reference()
    data["dependencies"].append({"name": "search", "kind": "elasticsearch"})
    (problem,) = _problems(tmp_path, data)
    assert "dependencies[3].kind" in problem and "unknown dependency kind 'elasticsearch'" in problem


def test_a_template_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    data = _reference()
    data["local"]["files"] = [{"name": "conf", "template": "missing.toml.tmpl"}]
    data["local"]["command"] = ["run", "{file.conf}"]
    (problem,) = _problems(tmp_path, data)
    assert "local.files[0].template: cannot read" in problem and "missing.toml.tmpl" in problem


def test_a_template_with_a_bad_placeholder_is_named(tmp_path: Path) -> None:
    (tmp_path / "app.toml.tmpl").write_text('[db]\ndsn = "{postgres.dsn}"\nother = "{mongo.url}"\n')
    data = _reference()
    data["local"]["files"] = [{"name": "service", "template": "app.toml.tmpl"}]
    (problem,) = _problems(tmp_path, data)
    assert "local.files[0].template (app.toml.tmpl): placeholder {mongo.url}" in problem


def test_bad_json_path_is_refused(tmp_path: Path) -> None:
    data = _reference()
    data["endpoints"][0]["expect"]["json"] = [{"path": "$[[", "exists": True}]
    (problem,) = _problems(tmp_path, data)
    assert "endpoints[0].expect.json[0].path" in problem and "not a JSONPath" in problem


@pytest.mark.parametrize(("content", "expected"), [
    ("service: [unclosed", "not YAML"),
    ("- a\n- b\n", "expected a mapping at the top level"),
    (b"\xff\xfe\x00binary", "cannot read"),
])
def test_files_that_are_not_profiles(tmp_path: Path, content: str | bytes, expected: str) -> None:
    path = tmp_path / "gameday.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ProfileError) as caught:
        load(path)
    (problem,) = caught.value.problems
    assert expected in problem and str(path) in problem


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such file"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match="is a directory"):
        load(tmp_path)


def test_where_the_profile_comes_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAMEDAY_PROFILE", raising=False)
    assert locate(cwd=tmp_path) == DEFAULT_PROFILE
    (tmp_path / "gameday.yaml").write_text("x: 1")
    assert locate(cwd=tmp_path) == tmp_path / "gameday.yaml"
    monkeypatch.setenv("GAMEDAY_PROFILE", "/elsewhere.yaml")
    assert locate(cwd=tmp_path) == Path("/elsewhere.yaml")
    assert locate("given.yaml", cwd=tmp_path) == Path("given.yaml")


def test_placeholders_leave_json_braces_alone() -> None:
    text = '{"port": {port}, "dsn": "{postgres.dsn}", "literal": "{{x}}"}'
    assert list(placeholders.names(text)) == ["port", "postgres.dsn"]
    assert placeholders.render(text, {"port": 8000, "postgres.dsn": "postgresql://a@h:1/d"}) == (
        '{"port": 8000, "dsn": "postgresql://a@h:1/d", "literal": "{x}"}')
    with pytest.raises(placeholders.MissingPlaceholder, match="port"):
        placeholders.render("{port}", {})


def test_a_whole_placeholder_keeps_the_captured_type() -> None:
    body = {"product_id": "{id}", "note": "id {id}", "items": [{"q": "{n}"}]}
    assert placeholders.render_value(body, {"id": 7, "n": 2}) == {"product_id": 7, "note": "id 7", "items": [{"q": 2}]}


@pytest.mark.parametrize(("assertion", "body", "problem"), [
    (Assertion(path="$.id", exists=True), {"id": 1}, None),
    (Assertion(path="$.id", exists=True), {}, "$.id missing"),
    (Assertion(path="$.id", exists=False), {"id": 1}, "$.id present"),
    (Assertion(path="$.id", type="integer"), {"id": True}, "$.id is bool, expected integer"),
    (Assertion(path="$.price", type="number"), {"price": 2.5}, None),
    (Assertion(path="$.items", not_empty=True), {"items": []}, "$.items is empty"),
    (Assertion(path="$.status", equals="issued"), {"status": "held"}, "$.status is 'held', expected 'issued'"),
    (Assertion(path="$[0].id"), None, "$[0].id missing"),
])
def test_json_assertions_at_their_edges(assertion: Assertion, body: object, problem: str | None) -> None:
    assert check_assertions([assertion], body) == ([problem] if problem else [])


def _field_paths(model: type = Profile, prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        path = prefix + (field.alias or name)
        paths.append(path)
        sub = _model_of(field.annotation)
        if sub is not None and sub is not model:
            paths += _field_paths(sub, path + ("[]." if "list" in str(field.annotation) else "."))
    return paths


def test_docs_describe_every_field() -> None:
    documented = set(re.findall(r"^\| `([^`]+)` \|", (ROOT / "docs" / "profile.md").read_text(), re.M))
    missing = [p for p in _field_paths() if p not in documented]
    assert not missing, f"docs/profile.md lacks: {missing}"


def test_schema_command_prints_the_schema() -> None:
    res = subprocess.run([sys.executable, "-m", "gameday.cli", "profile", "schema"], capture_output=True, text=True,
                         check=False, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "gameday service profile" in res.stdout


def test_check_command_on_a_bad_profile_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    data = _reference()
    data["slo"]["max_eror_rate"] = 0.01
    data["local"]["replicas"] = 0
    path = _write(tmp_path, data)
    res = subprocess.run([sys.executable, "-m", "gameday.cli", "--profile", str(path), "profile", "check"],
                         capture_output=True, text=True, check=False, cwd=ROOT)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"gameday: {path}: ") for line in lines), res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_check_passes_on_the_running_reference_service(stack, healthy) -> None:
    res = subprocess.run([sys.executable, "-m", "gameday.cli", "profile", "check", "--json"], capture_output=True,
                         text=True, check=False, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    import json

    report = json.loads(res.stdout)
    kinds = {c["kind"] for c in report["checks"]}
    assert report["ok"] and {"endpoint", "journey", "dependency", "health", "readiness"} <= kinds


@pytest.mark.slow
def test_check_names_a_wrong_status_and_a_capture_that_never_matches(stack, healthy, tmp_path: Path) -> None:
    data = _reference()
    data["endpoints"][2]["expect"] = 200  # unknown-product really answers 404
    data["journeys"][1]["steps"][1]["capture"] = {"order_id": "$.order_number"}
    data["local"]["working_dir"] = str(ROOT)
    path = _write(tmp_path, data)
    # what `profile check` calls, in-process: the command itself refuses a profile that is not the running stack's
    # (tests/test_stack_profile.py), and this one is a copy
    failed = [f"{r.name} {r.describe()}" for r in exercise(load(path), healthy.base_url())[0] if not r.ok]
    assert any("unknown-product" in line and "-> 404" in line and "(expected 200)" in line for line in failed)
    assert any("place-order" in line and "capture order_id ($.order_number" in line for line in failed)


# --- what `up` would refuse, refused when the profile is loaded (issue 25) ------------------------------
@pytest.mark.parametrize(("change", "field", "says"), [
    (lambda d, tmp: d.update(alerts={"rules": "rules/missing.yml"}), "alerts.rules", "No such file or directory"),
    (lambda d, tmp: (tmp.joinpath("r.yml").write_text("just: text\n"), d.update(alerts={"rules": "r.yml"})),
     "alerts.rules", "not a Prometheus rules file"),
    (lambda d, tmp: d["local"].update(working_dir="no/such/dir"), "local.working_dir", "no directory"),
])
def test_what_up_would_refuse_is_refused_when_the_profile_loads(tmp_path: Path, change, field: str,
                                                                 says: str) -> None:
    data = _reference()
    change(data, tmp_path)
    (problem,) = _problems(tmp_path, data)
    assert problem.startswith(f"{tmp_path / 'gameday.yaml'}: {field}: ") and says in problem, problem


def _nested(depth: int) -> dict:
    data = _reference()
    body: object = 1
    for _ in range(depth):
        body = {"a": body}
    data["endpoints"][0]["json"] = body
    return data


@pytest.mark.parametrize(("content", "says"), [
    (lambda: "service: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep"),
    (lambda: yaml.safe_dump(_nested(100)), "endpoints[0].json.a...: nested more than 64 levels deep"),
    (lambda: "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)),
     "more than 100000 values"),
    (lambda: "service: {name: x}\n# " + "x" * 50 * 1024 * 1024 + "\n", "larger than 1 MiB"),
])
def test_too_deep_too_many_values_or_too_large_is_one_line_and_quick(tmp_path: Path, content, says: str) -> None:
    path = _write(tmp_path, content())
    started = time.monotonic()
    with pytest.raises(ProfileError) as caught:
        load(path)
    assert time.monotonic() - started < 5, "refused, but slowly"
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: ") and says in problem, problem


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d["endpoints"][0].update(expect={"status": 200, "json": [{"path": "$[.a]", "exists": True}]}),
     "endpoints[0].expect.json[0].path: not a JSONPath"),  # ANTLR printed its own stray line before this one
    (lambda d: d.update(runbook="../../etc/passwd"), "runbook: no runbook package '../../etc/passwd'"),
    (lambda d: d.update(runbooks=["service-outage", "nope"]), "runbooks[1]: no runbook package 'nope'"),
    (lambda d: d["endpoints"][0].update(json=_nested(100)["endpoints"][0]["json"]), "nested more than 64"),
])
def test_profile_check_says_one_line_of_its_own_and_exits_2(tmp_path: Path, change, says: str) -> None:
    data = _reference()
    change(data)
    path = _write(tmp_path, data)
    state = tmp_path / "state"
    res = subprocess.run([sys.executable, "-m", "gameday", "--profile", str(path), "profile", "check"],
                         capture_output=True, text=True, check=False, cwd=ROOT,
                         env={**os.environ, "GAMEDAY_STATE_DIR": str(state)})
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith(f"gameday: {path}: ") and res.stderr.count("\n") == 1, res.stderr
    assert says in res.stderr and res.stdout == ""
    assert not state.exists(), "something was written before the refusal"


# --- runbooks: a profile may follow several (issue 24) ----------------------------------------------------------
@pytest.mark.parametrize(("given", "runbooks"), [
    ({}, ["service-outage"]),
    ({"runbook": "service-outage"}, ["service-outage"]),
    ({"runbooks": ["database-connection-issues", "service-outage"]}, ["database-connection-issues", "service-outage"]),
])
def test_one_runbook_or_several_the_first_the_default(tmp_path: Path, given: dict, runbooks: list[str]) -> None:
    data = {k: v for k, v in _reference().items() if k not in ("runbook", "runbooks")} | given
    profile = load(_write(tmp_path, data))
    assert profile.runbooks == runbooks and profile.runbook == runbooks[0]
    jsonschema.validate(data, schema())  # the schema takes either key


def test_runbook_and_runbooks_together_is_one_line(tmp_path: Path) -> None:
    data = _reference() | {"runbook": "service-outage", "runbooks": ["service-outage"]}
    assert _problems(tmp_path, data) == [f"{tmp_path / 'gameday.yaml'}: runbook: give runbook (one) or runbooks (a "
                                         "list), not both"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())
    assert _problems(tmp_path, _reference() | {"runbooks": []})[0].endswith(": runbooks: List should have at least "
                                                                           "1 item after validation, not 0")


def test_every_runbook_named_is_looked_up_by_the_runbook_layer() -> None:
    # the profile (the bottom layer) does not look packages up: its commands ask the runbook layer
    assert missing_runbooks(["service-outage"]) == []
    (line,) = missing_runbooks(["nope"])
    assert line.startswith("runbook: no runbook package 'nope': ") and "service-outage" in line
    (line,) = missing_runbooks(["service-outage", "../../etc/passwd"])
    assert line.startswith("runbooks[1]: no runbook package '../../etc/passwd'")


def test_up_refuses_a_runbook_it_cannot_find_before_anything_starts(tmp_path: Path) -> None:
    data = _reference()
    data["local"]["working_dir"] = str(ROOT)
    path = _write(tmp_path, data | {"runbooks": ["service-outage", "nope"]})
    state = tmp_path / "state"
    res = subprocess.run([sys.executable, "-m", "gameday", "--profile", str(path), "up"], capture_output=True,
                         text=True, check=False, cwd=ROOT, env={**os.environ, "GAMEDAY_STATE_DIR": str(state)})
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr == f"gameday: {path}: runbooks[1]: no runbook package 'nope': expected a folder with " \
        f"runbook.yaml, or one of: {', '.join(available_runbooks())}\n", res.stderr
    assert not state.exists() or not any(state.iterdir()), "up refused after it had started something"
