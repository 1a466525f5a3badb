"""The resource types this fake serves, and the discovery documents describing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SERVER_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.1-fakekube",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-09-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource (``group/version/plural``) and how it behaves."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    #: the ``status`` stanza is owned by the ``/status`` subresource and controllers
    status_subresource: bool = False
    #: objects carry ``metadata.generation`` bumped on spec changes
    has_spec: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: (group, plural)."""
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """``plural.group`` as used in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_SCALE = ("scale",)
_STATUS = ("status",)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        short_names=("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources=_STATUS,
        status_subresource=True,
    ),
    ResourceType(
        "",
        "v1",
        "Node",
        "nodes",
        namespaced=False,
        short_names=("no",),
        subresources=_STATUS,
        status_subresource=True,
    ),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        short_names=("po",),
        categories=("all",),
        subresources=("status", "log", "exec", "attach", "portforward", "eviction"),
        status_subresource=True,
    ),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        short_names=("svc",),
        categories=("all",),
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
        subresources=_STATUS,
        status_subresource=True,
    ),
    ResourceType("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", short_names=("cm",), has_spec=False),
    ResourceType("", "v1", "Secret", "secrets", has_spec=False),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",), has_spec=False),
    ResourceType("", "v1", "Event", "events", short_names=("ev",), has_spec=False),
    ResourceType(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        categories=("all",),
        subresources=("status", "scale"),
        status_subresource=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        categories=("all",),
        subresources=("status", "scale"),
        status_subresource=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short_names=("sts",),
        categories=("all",),
        subresources=("status", "scale"),
        status_subresource=True,
    ),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", has_spec=False),
    ResourceType(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short_names=("pdb",),
        subresources=_STATUS,
        status_subresource=True,
    ),
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    # gameday's run lock (renewed by its holder; a dead holder's expires on its own)
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", has_spec=False),
    # Chaos Mesh's CRD (config/crd/bases/chaos-mesh.org_networkchaos.yaml): served unless the fake runs without
    # Chaos Mesh (FakeKube.start(chaos_mesh=False)); behaviour in chaosmesh.py
    ResourceType("chaos-mesh.org", "v1alpha1", "NetworkChaos", "networkchaos", subresources=_STATUS,
                 status_subresource=True),
)

BY_KEY: dict[tuple[str, str], ResourceType] = {rt.key: rt for rt in RESOURCE_TYPES}
BY_KIND: dict[tuple[str, str], ResourceType] = {(rt.group, rt.kind): rt for rt in RESOURCE_TYPES}

GROUP_ORDER: tuple[str, ...] = ("apps", "policy", "networking.k8s.io", "coordination.k8s.io", "chaos-mesh.org")

#: preferred-order listing, used by tests and the standalone CLI
GROUP_VERSIONS: dict[str, str] = {"": "v1", "apps": "v1", "policy": "v1", "networking.k8s.io": "v1",
                                  "coordination.k8s.io": "v1", "chaos-mesh.org": "v1alpha1"}

SCALE_KIND = {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """Find a resource type by its URL coordinates."""
    rt = BY_KEY.get((group, plural))
    if rt is None or rt.version != version:
        return None
    return rt


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """Find a resource type by ``apiVersion`` and ``kind``."""
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return BY_KIND.get((group, kind))


def _resource_entry(rt: ResourceType) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    entries = [entry]
    for sub in rt.subresources:
        sub_entry: dict[str, Any] = {
            "name": f"{rt.plural}/{sub}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": ["get", "patch", "update"],
        }
        if sub == "scale":
            sub_entry.update(SCALE_KIND)
        elif sub == "log":
            sub_entry.update(kind="Pod", verbs=["get"])
        elif sub in ("exec", "attach", "portforward"):
            sub_entry.update(
                kind="PodExecOptions" if sub == "exec" else "PodAttachOptions", verbs=["create", "get"]
            )
            if sub == "portforward":
                sub_entry["kind"] = "PodPortForwardOptions"
        elif sub == "eviction":
            sub_entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
        entries.append(sub_entry)
    return entries


def api_versions() -> dict[str, Any]:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    }


def api_group_list() -> dict[str, Any]:
    """``GET /apis``."""
    groups = []
    for group in GROUP_ORDER:
        gv = {"groupVersion": f"{group}/{GROUP_VERSIONS[group]}", "version": GROUP_VERSIONS[group]}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    """``GET /apis/<group>``."""
    if group not in GROUP_ORDER:
        return None
    gv = {"groupVersion": f"{group}/{GROUP_VERSIONS[group]}", "version": GROUP_VERSIONS[group]}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv], "preferredVersion": gv}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``."""
    if GROUP_VERSIONS.get(group) != version:
        return None
    resources: list[dict[str, Any]] = []
    for rt in RESOURCE_TYPES:
        if rt.group == group and rt.version == version:
            resources.extend(_resource_entry(rt))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
