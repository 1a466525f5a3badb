"""The kubernetes target's network faults: through a Toxiproxy in the namespace that the profile names, else Chaos
Mesh's NetworkChaos.
"""

from __future__ import annotations

from typing import Any

from gameday.targets.kubernetes import chaosmesh
from gameday.targets.kubernetes.reachability import KubernetesReachability
from gameday.targets.kubernetes.toxiproxy import ToxiproxyInNamespace
from gameday.targets.model import NotApplicableError, TargetError, profile_dependency


class KubernetesNetwork(KubernetesReachability):
    """Toxics and partitions on the service's links to its dependencies."""

    def _toxiproxy(self) -> ToxiproxyInNamespace | None:
        named = self.profile.kubernetes.toxiproxy if self.profile.kubernetes is not None else None
        if named is None:
            return None
        return ToxiproxyInNamespace(self.client, self.ns, named.service, named.port, named.proxies)

    def _network_engine(self, dependency: str | None) -> ToxiproxyInNamespace | chaosmesh.ChaosMesh:
        """Where a network fault on ``dependency`` goes: the profile's Toxiproxy when it names a proxy for it (the
        team configured its pods to connect through it), else Chaos Mesh where it is installed; otherwise the fault
        does not apply, with the reason."""
        if dependency is not None:
            profile_dependency(self.profile, dependency)
        toxiproxy = self._toxiproxy()
        if toxiproxy is not None and (dependency is None or dependency in toxiproxy.proxies):
            return toxiproxy
        if chaosmesh.installed(self.client):
            return chaosmesh.ChaosMesh(self.client, self.ns, self.app_labels)
        where = (f"a Toxiproxy proxy for {dependency} (kubernetes.toxiproxy.proxies)" if toxiproxy is not None
                 else "a Toxiproxy")
        raise NotApplicableError(f"neither Chaos Mesh (no {chaosmesh.GROUP} API) nor {where} in namespace {self.ns}")

    def _chaos_peer(self, dependency: str) -> dict[str, Any]:
        """The dependency as a NetworkChaos ``target``: its pods by their labels, or ``externalTargets`` for an
        address outside the namespace."""
        dep = profile_dependency(self.profile, dependency)
        if dep.address is not None:
            return {"externalTargets": [dep.address.rpartition(":")[0].strip("[]")]}
        labels, _, _ = self._dependency_pods(dependency)
        if not labels:
            raise TargetError(f"{dependency}: no Service or workload selector in {self._where()} to aim Chaos Mesh at")
        return {"target": {"selector": {"namespaces": [self.ns], "labelSelectors": labels}, "mode": "all"}}

    def add_toxic(self, dependency: str, toxic: dict[str, Any]) -> None:
        self._guard()
        engine = self._network_engine(dependency)
        if isinstance(engine, ToxiproxyInNamespace):
            engine.add_toxic(dependency, toxic)
            return
        engine.apply(chaosmesh.fault_of(str(toxic.get("name", ""))), dependency, toxic, self._chaos_peer(dependency))

    def remove_toxic(self, dependency: str, name: str) -> None:
        engine = self._network_engine(dependency)
        if isinstance(engine, ToxiproxyInNamespace):
            engine.remove_toxic(dependency, name)
        else:
            engine.delete(chaosmesh.object_name(chaosmesh.fault_of(name), dependency))

    def set_dependency_link(self, dependency: str, enabled: bool) -> None:
        if not enabled:
            self._guard()
        engine = self._network_engine(dependency)
        if isinstance(engine, ToxiproxyInNamespace):
            engine.set_link(dependency, enabled)
        elif enabled:
            engine.delete(chaosmesh.object_name(chaosmesh.PARTITION, dependency))
        else:
            engine.apply(chaosmesh.PARTITION, dependency, None, self._chaos_peer(dependency))

    def reset_network_faults(self) -> None:
        toxiproxy = self._toxiproxy()
        if toxiproxy is not None:
            toxiproxy.reset()
        if chaosmesh.installed(self.client):
            chaosmesh.ChaosMesh(self.client, self.ns, self.app_labels).delete_all()
