"""Where the service lives on a cluster: the profile's ``kubernetes`` section plus the user's overrides.

The profile names the service's objects (deployment, container, label selector, service, configmap, the
dependencies' workloads); the settings say only where the cluster is (kubeconfig, context) and what the user
overrides on the command line (``--namespace``, ``--base-url``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gameday.config import Settings
from gameday.errors import UsageError


@dataclass(frozen=True)
class Cluster:
    """The names the kubernetes target, the runbook's kubectl commands and the chaos actions use."""

    kubeconfig: str | None
    context: str | None
    namespace: str
    deployment: str
    container: str | None
    label_selector: str
    service: str
    configmap: str | None
    base_url: str | None
    bad_image: str | None
    metrics_port: int | None = None
    bad_config: dict[str, str] = field(default_factory=dict)
    workloads: dict[str, str] = field(default_factory=dict)

    def workload(self, dependency: str) -> str:
        """The dependency's StatefulSet/Deployment name (the profile's ``workloads``, else its own name)."""
        return self.workloads.get(dependency, dependency)


def cluster(settings: Settings) -> Cluster:
    """The service's names on the cluster; one clear line when the profile has no ``kubernetes`` section."""
    profile = settings.service
    kube = profile.kubernetes
    if kube is None:
        raise UsageError(f"{profile.source}: has no kubernetes section: the kubernetes target needs one "
                         "(namespace, deployment, label_selector, service)")
    user = settings.kubernetes
    local_bad = profile.local.bad_config if profile.local is not None else {}
    return Cluster(
        kubeconfig=user.kubeconfig,
        context=user.context,
        namespace=user.namespace or kube.namespace,
        deployment=kube.deployment,
        container=kube.container,
        label_selector=kube.label_selector,
        service=kube.service,
        configmap=kube.configmap,
        base_url=user.base_url or kube.base_url,
        bad_image=kube.bad_image,
        metrics_port=kube.metrics_port,
        bad_config=dict(kube.bad_config or local_bad),
        workloads=dict(kube.workloads),
    )
