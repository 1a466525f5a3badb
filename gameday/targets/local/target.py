"""The local target: the Target interface over the stack that ``gameday up`` runs on loopback ports.

It is cut by resource, one part per module, as chaostoolkit-kubernetes cuts its activities: :mod:`.core` (the stack
every part stands on, and what the target says about itself), :mod:`.replicas`, :mod:`.rollouts`,
:mod:`.configuration`, :mod:`.dependencies`, :mod:`.network` (the fault proxy) and :mod:`.canary`.
"""

from __future__ import annotations

from gameday.targets.local.canary import LocalCanaries
from gameday.targets.local.configuration import LocalConfiguration
from gameday.targets.local.dependencies import LocalDependencies
from gameday.targets.local.network import LocalNetwork
from gameday.targets.local.replicas import LocalReplicas
from gameday.targets.local.rollouts import LocalRollouts
from gameday.targets.local.service import FAULT_PROXY
from gameday.targets.model import Status


class LocalTarget(LocalRollouts, LocalReplicas, LocalConfiguration, LocalDependencies, LocalNetwork, LocalCanaries):
    """The runbook's operations on the local stack."""

    name = "local"

    def status(self) -> Status:
        """Every part's snapshot, with the stack's programs and its fault proxy."""
        status = super().status()
        infos = self.supervisor.processes()
        status.components = [
            {
                "name": p["name"],
                "kind": p["kind"],
                "pid": infos.get(p["name"], {}).get("pid") or None,
                "port": p["port"],
                "state": infos.get(p["name"], {}).get("statename", "UNKNOWN").lower(),
            }
            for p in self.stack["programs"]
        ]
        status.fault_proxy = self._fault_proxy_status(infos.get(FAULT_PROXY, {}).get("pid") or None)
        return status
