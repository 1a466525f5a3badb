"""The local target's configuration: the live configuration (the ConfigMap) the rollout store keeps, rendered
into each replica's files; and what changed it, recorded or not (a file edited by hand, a command changed).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from gameday import reasons
from gameday.state import StateDir, read_json
from gameday.targets.local import service as service_mod
from gameday.targets.local.core import LocalCore
from gameday.targets.local.rollout import prepare_replicas
from gameday.targets.local.service import Service
from gameday.targets.model import ConfigChange, TargetError

LIVE_CONFIG = ("rollout", "config.json")  # the live configuration (the ConfigMap): RolloutStore keeps it there


class LocalConfiguration(LocalCore):
    """The service's configuration and when it changed."""

    def config(self) -> dict[str, str]:
        return self.rollout.config()

    def config_changes(self) -> list[ConfigChange]:
        """What an on-call finds with ``ls -l`` and ``diff``: the live configuration (the ConfigMap) written after
        ``up``, and each replica's files and command compared with what its revision renders from the live
        configuration. A file edited by hand, or a command changed by hand and restarted through supervisor, shows
        here though neither gameday nor the rollout history recorded it."""
        out = []
        live = self.state.path(*LIVE_CONFIG)
        # ``up`` writes the live configuration with revision 1, then records the stack as started: a write after
        # that is a change. (Not the oldest revision's time: a revision rolled back to is renumbered and re-dated,
        # as Kubernetes does, so right after an undo the oldest one may be seconds old.)
        created = float(self.stack["started_at"])
        if live.exists() and live.stat().st_mtime > created:
            out.append(ConfigChange(live.stat().st_mtime, self._object("configmap"), "config",
                                    f"the live configuration ({live.name}) was written"))
        return sorted(out + self._drift(), key=lambda c: c.at)

    def _drift(self) -> list[ConfigChange]:
        """Replicas whose files or command differ from what their revision renders now (rendered into a scratch
        directory; compared in memory: nothing of a file, secrets included, is shown)."""
        service = self.service
        pods = self._pods()
        revisions = {r.number: r for r in self.rollout.revisions()}
        current = self.rollout.current()
        config = self.rollout.config()
        out: list[ConfigChange] = []
        with tempfile.TemporaryDirectory(prefix="gameday-render-") as scratch:
            shadow = Service(service.profile, StateDir(Path(scratch)), service.ports, service.python, service.password)

            def real(text: str) -> str:
                return text.replace(scratch, str(self.state.root))

            for name in self.replica_names:
                rev = revisions.get(pods.get(name, {}).get("revision"), current)
                try:
                    spec = shadow.render_replica(name, rev.version, config)
                except TargetError:
                    continue
                for item in service.local.files:
                    path = service.replica_dir(name) / service_mod.file_name(item)
                    wanted = real((shadow.replica_dir(name) / service_mod.file_name(item)).read_text())
                    if path.exists() and not _same_content(path.read_text(errors="replace"), wanted):
                        out.append(ConfigChange(path.stat().st_mtime, f"file/{name}/{path.name}", "config",
                                                f"{path} differs from what revision {rev.number} renders from the "
                                                "live configuration"))
                spec_path = service.spec_path(name)
                running = read_json(spec_path, {})
                if not running:
                    continue
                command = [real(part) for part in spec.command]
                environment = {k: real(v) for k, v in spec.environment.items()}
                if running.get("command") != command:
                    out.append(ConfigChange(spec_path.stat().st_mtime, f"command/{name}", "command",
                                            f"{name} is set to run {' '.join(map(str, running.get('command') or []))!r}"
                                            f", not revision {rev.number}'s ({rev.version})"))
                elif running.get("environment") != environment:
                    out.append(ConfigChange(spec_path.stat().st_mtime, f"file/{name}/{spec_path.name}", "config",
                                            f"{name}'s environment differs from what revision {rev.number} renders "
                                            "from the live configuration"))
        return out

    def apply_config(self, changes: dict[str, str], cause: str = "") -> dict[str, str]:
        previous = self.rollout.config()
        return self.replace_config({**previous, **{k: str(v) for k, v in changes.items()}}, cause)

    def replace_config(self, data: dict[str, str], cause: str = "") -> dict[str, str]:
        previous = self.rollout.config()
        self.rollout.set_config(data)
        pods = self._pods()
        revs = {r.number: r for r in self.rollout.revisions()}
        current = self.rollout.current()
        by_name = {n: revs.get(pods.get(n, {}).get("revision"), current) for n in self.replica_names}
        prepare_replicas(self.service, self.replica_names, by_name, data)
        changed = sorted(k for k in set(previous) | set(data) if previous.get(k) != data.get(k))
        self.event_log.record("Normal", reasons.CONFIG_CHANGED, self._object("configmap"),
                              f"configuration changed ({', '.join(changed) or 'no keys'}): {cause}".rstrip(": "))
        return previous


def _same_content(actual: str, wanted: str) -> bool:
    """Whether a rendered file says the same: equal JSON objects whatever their key order (the live configuration
    is stored sorted), equal lines in any order (an env file), else equal text."""
    try:
        return bool(json.loads(actual) == json.loads(wanted))
    except ValueError:
        return sorted(actual.splitlines()) == sorted(wanted.splitlines())
