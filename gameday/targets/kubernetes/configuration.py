"""The kubernetes target's configuration: the profile's ConfigMap, its writes as the API server records them
(``managedFields``), and changes patched into it.
"""

from __future__ import annotations

from gameday import reasons
from gameday.targets.kubernetes import convert
from gameday.targets.kubernetes.client import KubeError
from gameday.targets.kubernetes.core import KubernetesCore
from gameday.targets.model import ConfigChange, NotApplicableError

CONFIG_CAUSE = "gameday.io/change-cause"


class KubernetesConfiguration(KubernetesCore):
    """The service's configuration and when it changed."""

    def _configmap(self) -> str:
        if not self.kube.configmap:
            raise NotApplicableError(f"{self.profile.service.name}'s profile names no kubernetes.configmap")
        return self.kube.configmap

    def config(self) -> dict[str, str]:
        configmap = self._configmap()
        cm = self.client.call(f"configmap/{configmap}", self.client.core.read_namespaced_config_map,
                              configmap, self.ns)
        return dict(cm.data or {})

    def config_changes(self) -> list[ConfigChange]:
        """When the ConfigMap was last written, by whom: the API server's ``managedFields`` (``kubectl get cm -o
        yaml --show-managed-fields``), kept for every write whatever made it (kubectl edit, patch, apply, a
        controller, gameday). Its creation is not a change. No ConfigMap named in the profile: none."""
        if not self.kube.configmap:
            return []
        try:
            cm = self.client.call(f"configmap/{self.kube.configmap}", self.client.core.read_namespaced_config_map,
                                  self.kube.configmap, self.ns)
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        created = convert.timestamp(cm.metadata.creation_timestamp) or 0.0
        out = []
        for entry in cm.metadata.managed_fields or []:
            when = convert.timestamp(entry.time)
            if when is not None and when > created + 1:
                out.append(ConfigChange(when, f"configmap/{self.kube.configmap}", "config",
                                        f"configmap/{self.kube.configmap} written by {entry.manager} "
                                        f"({entry.operation})"))
        return sorted(out, key=lambda c: c.at)

    def _write_config(self, data: dict[str, str], cause: str) -> dict[str, str]:
        previous = self.config()
        values: dict[str, str | None] = {k: str(v) for k, v in data.items()}
        values.update({k: None for k in previous if k not in data})  # removed keys
        body = {"metadata": {"annotations": {CONFIG_CAUSE: cause or "gameday"}}, "data": values}
        configmap = self._configmap()
        self.client.call(f"update configmap/{configmap}", self.client.core.patch_namespaced_config_map,
                         configmap, self.ns, body)
        changed = sorted(k for k in set(previous) | set(data) if previous.get(k) != data.get(k))
        self._record(reasons.CONFIG_CHANGED, "ConfigMap", configmap,
                     f"configuration changed ({', '.join(changed) or 'no keys'}): {cause}".rstrip(": "))
        return previous

    def apply_config(self, changes: dict[str, str], cause: str = "") -> dict[str, str]:
        self._guard()
        previous = self.config()
        return self._write_config({**previous, **{k: str(v) for k, v in changes.items()}}, cause)

    def replace_config(self, data: dict[str, str], cause: str = "") -> dict[str, str]:
        return self._write_config(dict(data), cause)
