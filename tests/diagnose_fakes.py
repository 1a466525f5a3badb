"""An in-memory Target for the diagnose and runbook tests (no tests here: shared by test_diagnose*/test_runbook*)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from gameday.profile import DEFAULT_PROFILE, Profile
from gameday.profile import load as load_profile
from gameday.targets.base import Target
from gameday.targets.model import (
    ConfigChange,
    DependencyCheck,
    DependencyState,
    Endpoint,
    Event,
    LoadBalancer,
    Replica,
    Revision,
    TargetError,
)

PROFILE = load_profile(DEFAULT_PROFILE)  # the reference service: PostgreSQL critical, Redis and Kafka degraded


class FakeApi:
    """The service's API behind the fake load balancer: a real HTTP server on loopback answering every request with
    one status (the diagnosis calls the profile's endpoints through the load balancer)."""

    _shared: ClassVar[FakeApi | None] = None

    def __init__(self) -> None:
        self.status = 200
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = b"{}"
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @classmethod
    def shared(cls) -> FakeApi:
        """One server for the whole test session; each FakeTarget sets the status it needs."""
        if cls._shared is None:
            cls._shared = cls()
        cls._shared.status = 200
        return cls._shared


class FakeTarget(Target):
    """Answers every observation from fields; records every action so a test can assert none happened."""

    name = "fake"

    def __init__(self, kind: str = "local", profile: Profile = PROFILE) -> None:
        self.kind = kind
        self.profile = profile
        now = time.time()
        self.replica_list = [Replica(f"replica-{i}", "Running", True, 0, 1, "1.4.2") for i in range(3)]
        self.endpoint_list = [Endpoint(r.name, f"127.0.0.1:{9000 + i}", True, "UP")
                              for i, r in enumerate(self.replica_list)]
        self.api = FakeApi.shared()
        self.lb = LoadBalancer("lb", self.api.url, "up", 3, 3)
        self.revisions = [Revision(1, "1.4.2", "initial deploy", now - 3600)]
        self.event_list = [Event(now - 60, "Normal", "Started", "replica-0", "spawned")]
        self.config_change_list: list[ConfigChange] = []
        self.log_lines = {r.name: [f"2026-01-01T00:00:00Z INFO pod={r.name} started"] for r in self.replica_list}
        self.checks = {d.name: DependencyCheck(d.name, True, 0.001, "ok", f"check {d.name}")
                       for d in profile.dependencies}
        self.delays: dict[str, float] = {}  # call name -> seconds it hangs (unless released first)
        self.released = threading.Event()  # ends every hang at once: abandoned calls do not outlive the test
        self.failures: dict[str, Exception] = {}  # call name -> exception it raises
        self.configuration = {"DB_HOST": "10.0.0.5", "REDIS_HOST": "10.0.0.6", "KAFKA_BOOTSTRAP": "10.0.0.7:9092"}
        self.actions: list[str] = []
        self.calls: list[str] = []

    def _observe(self, call: str) -> None:
        self.calls.append(call)
        if call in self.failures:
            raise self.failures[call]
        if call in self.delays:
            self.released.wait(self.delays[call])  # the fake's own hang

    # --- observation ---------------------------------------------------------------------------
    def base_url(self) -> str:
        return self.lb.url

    def reachable(self) -> None:
        self._observe("reachable")

    def replicas(self) -> list[Replica]:
        self._observe("replicas")
        return list(self.replica_list)

    def endpoints(self) -> list[Endpoint]:
        self._observe("endpoints")
        return list(self.endpoint_list)

    def load_balancer(self) -> LoadBalancer:
        self._observe("load_balancer")
        return self.lb

    def history(self) -> list[Revision]:
        self._observe("history")
        return list(self.revisions)

    def config_changes(self) -> list[ConfigChange]:
        return list(self.config_change_list)

    def events(self, limit: int = 20) -> list[Event]:
        self._observe("events")
        return self.event_list[-limit:]

    def logs(self, replica: str | None = None, tail: int = 100) -> list[str]:
        self._observe("logs")
        if replica is None:
            return [line for lines in self.log_lines.values() for line in lines][-tail:]
        if replica not in self.log_lines:
            raise TargetError(f"no replica {replica!r}")
        return self.log_lines[replica][-tail:]

    def config(self) -> dict[str, str]:
        self._observe("config")
        return dict(self.configuration)

    def dependency_states(self) -> list[DependencyState]:
        return [DependencyState(d.name, "running") for d in self.profile.dependencies]

    def check_dependency(self, name: str, timeout: float = 2.0) -> DependencyCheck:
        self._observe(f"check:{name}")
        return self.checks[name]

    # --- actions: never called by diagnose or runbook-check ----------------------------------------
    def _act(self, what: str) -> Any:
        self.actions.append(what)
        raise AssertionError(f"read-only code called the action {what}")

    def terminate_replicas(self, names=None):
        return self._act("terminate_replicas")

    def freeze_replicas(self, names=None):
        return self._act("freeze_replicas")

    def thaw_replicas(self, names=None):
        return self._act("thaw_replicas")

    def rollout_restart(self, wait=True, timeout=60.0):
        return self._act("rollout_restart")

    def rollout_undo(self, to_revision=None, wait=True, timeout=60.0):
        return self._act("rollout_undo")

    def deploy(self, version, cause="", wait=True, timeout=60.0):
        return self._act("deploy")

    def apply_config(self, changes, cause=""):
        return self._act("apply_config")

    def replace_config(self, data, cause=""):
        return self._act("replace_config")

    def stop_dependency(self, name):
        return self._act("stop_dependency")

    def start_dependency(self, name, wait=True, timeout=30.0):
        return self._act("start_dependency")

    def hang_dependency(self, name):
        return self._act("hang_dependency")

    def release_dependency(self, name):
        return self._act("release_dependency")

    def wait_healthy(self, timeout=60.0):
        return self._act("wait_healthy")

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def bad_release(self) -> str:
        return "1.5.0-broken"

    def broken_config(self) -> dict[str, str]:
        return {"DB_HOST": "127.0.0.2"}


class KubeLikeTarget(FakeTarget):
    """A fake whose commands are kubectl's, like the Kubernetes target's."""

    name = "kubernetes"

    def command_for(self, action: str) -> str:
        if action == "logs":
            return "kubectl logs deployment/ecommerce-backend -n production --tail=100"
        return f"kubectl {action} deployment/ecommerce-backend -n production"
