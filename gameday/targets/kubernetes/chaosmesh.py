"""Network faults on Kubernetes as Chaos Mesh ``NetworkChaos`` objects (``chaos-mesh.org/v1alpha1``).

Where Chaos Mesh's CRDs are installed (API discovery lists ``networkchaos`` in ``chaos-mesh.org/v1alpha1``), a
network fault is one NetworkChaos in the service's namespace: ``selector`` the service's pods (its label selector),
``mode: all``, ``direction: to``, ``target`` the dependency's pods (its Service's selector) or ``externalTargets``
its host for a dependency outside the cluster; no ``duration``: it lasts until gameday deletes it on undo. After
creating it gameday waits until Chaos Mesh reports it injected (``status.conditions`` ``AllInjected=True``, or
every ``status.experiment.containerRecords[].phase`` ``Injected``); after deleting it, until it is gone (Chaos
Mesh's finalizer keeps it while it recovers the pods).

How Toxiproxy's toxics (what the network faults are written in) map onto Chaos Mesh's actions, and where the
mapping is not exact:

* ``latency`` (ms, jitter) -> ``delay`` (``latency``, ``jitter``): exact, on the service's packets to the
  dependency (Toxiproxy delays the dependency's answers: the round trip grows by the same amount).
* ``bandwidth`` (rate KB/s) -> ``bandwidth`` (``rate`` in ``kbps``, which is tc's kilobytes per second;
  ``buffer`` 100 ms of the rate, at least one 1500-byte packet; ``limit`` one second of it, at least 3000 bytes).
* ``timeout`` with timeout 0 (blackhole) -> ``loss`` 100%: nothing gets through, connections hang. Unlike
  Toxiproxy, which accepts the connection first, the SYN itself is lost: connect() times out.
* ``reset_peer`` with toxicity p (a fraction of connections reset) -> ``loss`` of p x 100 % of packets. Chaos
  Mesh has no TCP reset; packet loss is the nearest it can do, and it is not the same failure: lost packets are
  retransmitted, so most requests succeed late and some time out instead of failing fast with "connection reset".
  The object's ``gameday.io/approximates`` annotation says so.
* the link disabled (partition, Toxiproxy's refused connections) -> ``partition``: Chaos Mesh drops the packets,
  so connections time out instead of being refused.
* ``slicer``, ``slow_close``, ``limit_data``, a ``timeout`` that closes after a while, and a latency or bandwidth
  toxic on only part of the connections (toxicity < 1) have no counterpart: :class:`NotApplicableError`.

Every object carries ``app.kubernetes.io/managed-by=gameday``, ``gameday.io/fault``, ``gameday.io/dependency``
and ``gameday.io/run`` (host and pid of the gameday process that created it).
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gameday.targets.kubernetes import policies
from gameday.targets.kubernetes.client import KubeClient, KubeError
from gameday.targets.kubernetes.cluster import cluster
from gameday.targets.model import NotApplicableError, TargetError

if TYPE_CHECKING:
    from gameday.config import Settings

GROUP = "chaos-mesh.org"
VERSION = "v1alpha1"
PLURAL = "networkchaos"
KIND = "NetworkChaos"
RUN_LABEL = "gameday.io/run"
APPROXIMATES = "gameday.io/approximates"
INJECT_TIMEOUT_S = 30.0
POLL_S = 0.1
PARTITION = "dependency-partition"


def run_label() -> str:
    """This gameday process as a label value: ``<host>-<pid>`` (at most 63 characters, label-safe)."""
    raw = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{socket.gethostname()}-{os.getpid()}")
    return raw[-63:].strip("-_.") or str(os.getpid())


def installed(client: KubeClient) -> bool:
    """Whether the API serves ``networkchaos.chaos-mesh.org/v1alpha1`` (Chaos Mesh's CRDs are installed)."""
    try:
        listed = client.call(f"API discovery of {GROUP}/{VERSION}", client.custom.get_api_resources, GROUP, VERSION)
    except KubeError as exc:
        if exc.status == 404:
            return False
        raise
    return any(r.name == PLURAL for r in listed.resources or [])


def object_name(fault: str, dependency: str) -> str:
    """One object per fault and dependency: ``gameday-<fault>-<dependency>``."""
    return f"gameday-{fault}-{dependency}"[:253]


def fault_of(toxic_name: str) -> str:
    """The fault a toxic belongs to: the network faults name their toxics ``gameday-<fault>``."""
    return toxic_name.removeprefix("gameday-")


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.6g}"


def action_for(toxic: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """(action, its tc parameters, what it approximates or "") for a Toxiproxy toxic; NotApplicableError when
    Chaos Mesh has nothing like it (see the module docstring)."""
    kind = toxic.get("type")
    attributes = toxic.get("attributes") or {}
    toxicity = float(toxic.get("toxicity", 1.0))
    if kind == "reset_peer":
        return ("loss", {"loss": {"loss": _percent(toxicity), "correlation": "0"}},
                f"reset_peer on {_percent(toxicity)}% of connections: Chaos Mesh has no TCP reset, "
                f"{_percent(toxicity)}% packet loss instead (retransmissions and timeouts, not resets)")
    if toxicity < 1.0:
        raise NotApplicableError(f"Chaos Mesh cannot apply a {kind} toxic to only part of the connections "
                                 f"(toxicity {toxicity})")
    if kind == "latency":
        return ("delay", {"delay": {"latency": f"{int(attributes.get('latency', 0))}ms",
                                    "jitter": f"{int(attributes.get('jitter', 0))}ms", "correlation": "0"}}, "")
    if kind == "bandwidth":
        rate = int(attributes.get("rate", 0))
        if rate <= 0:
            raise NotApplicableError("a bandwidth toxic of rate 0 (no limit) has no Chaos Mesh counterpart")
        per_second = rate * 1000
        return ("bandwidth", {"bandwidth": {"rate": f"{rate}kbps", "limit": max(per_second, 3000),
                                            "buffer": max(per_second // 10, 1500)}}, "")
    if kind == "timeout" and int(attributes.get("timeout", 0)) == 0:
        return ("loss", {"loss": {"loss": "100", "correlation": "0"}},
                "a blackhole (Toxiproxy timeout 0): 100% packet loss; connect() itself times out")
    raise NotApplicableError(f"Chaos Mesh has no counterpart of a Toxiproxy {kind} toxic "
                             f"(it has delay, loss, partition, bandwidth)")


def network_chaos(name: str, namespace: str, app_labels: dict[str, str], action: str, tc: dict[str, Any],
                  peer: dict[str, Any], labels: dict[str, str], approximates: str = "") -> dict[str, Any]:
    """The NetworkChaos object: the service's pods (``app_labels``) to ``peer`` (``{"target": PodSelector}`` or
    ``{"externalTargets": [host]}``), every pod (mode all), no duration."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {**policies.MANAGED_BY, **labels}}
    if approximates:
        metadata["annotations"] = {APPROXIMATES: approximates}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": {"selector": {"namespaces": [namespace], "labelSelectors": dict(app_labels)}, "mode": "all",
                 "action": action, "direction": "to", **tc, **peer},
    }


def injected(obj: dict[str, Any]) -> tuple[bool, str]:
    """(injected, why not) from the status Chaos Mesh writes: ``AllInjected=True``, or records all ``Injected``."""
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("AllInjected") or {}).get("status") == "True":
        return True, ""
    records = (status.get("experiment") or {}).get("containerRecords") or []
    if records and all(r.get("phase") == "Injected" for r in records):
        return True, ""
    if (conditions.get("Selected") or {}).get("status") == "False":
        return False, "Chaos Mesh selected no pod (selector matches none)"
    failures = [e.get("message") for r in records for e in r.get("events") or [] if e.get("type") == "Failed"]
    if failures:
        return False, f"Chaos Mesh failed to inject: {failures[-1]}"
    return False, f"{sum(r.get('phase') == 'Injected' for r in records)}/{len(records)} pods injected"


def cuts(obj: dict[str, Any], app_labels: dict[str, str], dependency_labels: dict[str, str],
         external_host: str | None) -> bool:
    """Whether an injected NetworkChaos drops every packet from pods labelled ``app_labels`` to the dependency (its
    pods' labels, or its host outside the cluster): ``partition`` or ``loss`` 100%, direction to or both."""
    spec = obj.get("spec") or {}
    if not injected(obj)[0] or spec.get("direction", "to") not in ("to", "both"):
        return False
    if spec.get("action") == "loss":
        try:
            if float((spec.get("loss") or {}).get("loss", "0")) < 100:
                return False
        except ValueError:
            return False
    elif spec.get("action") != "partition":
        return False
    wanted = (spec.get("selector") or {}).get("labelSelectors") or {}
    if any(app_labels.get(k) != v for k, v in wanted.items()):
        return False
    if external_host is not None:
        return external_host in (spec.get("externalTargets") or [])
    target = ((spec.get("target") or {}).get("selector") or {}).get("labelSelectors")
    return bool(dependency_labels) and target is not None and all(
        dependency_labels.get(k) == v for k, v in target.items())


class ChaosMesh:
    """Creates, waits for and deletes gameday's NetworkChaos objects in one namespace."""

    def __init__(self, client: KubeClient, namespace: str, app_labels: dict[str, str],
                 inject_timeout: float = INJECT_TIMEOUT_S) -> None:
        self.client = client
        self.namespace = namespace
        self.app_labels = dict(app_labels)
        self.inject_timeout = inject_timeout

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.call(f"get networkchaos/{name}", self.client.custom.get_namespaced_custom_object,
                                    GROUP, VERSION, self.namespace, PLURAL, name)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def _create(self, name: str, body: dict[str, Any]) -> None:
        self.client.call(f"create networkchaos/{name}", self.client.custom.create_namespaced_custom_object,
                         GROUP, VERSION, self.namespace, PLURAL, body)

    def _wait(self, name: str, timeout: float, settled: Callable[[dict[str, Any] | None], tuple[bool, str]]) -> str:
        """Read the object until ``settled(it or None)`` says it is; "" then, else after ``timeout`` why not."""
        deadline = time.monotonic() + timeout
        while True:
            done, why = settled(self._get(name))
            if done:
                return ""
            if time.monotonic() > deadline:
                return why
            time.sleep(POLL_S)  # poll: Chaos Mesh writes the status (removes the object) once its daemons are done

    def apply(self, fault: str, dependency: str, toxic: dict[str, Any] | None, peer: dict[str, Any]) -> str:
        """Create the NetworkChaos of ``fault`` on ``dependency`` (``toxic`` None: a partition) and wait until Chaos
        Mesh reports it injected; its name."""
        if toxic is None:
            action, tc, approximates = "partition", {}, "refused connections: Chaos Mesh drops them (timeouts)"
        else:
            action, tc, approximates = action_for(toxic)
        name = object_name(fault, dependency)
        labels = {policies.FAULT_LABEL: fault, policies.DEPENDENCY_LABEL: dependency, RUN_LABEL: run_label()}
        body = network_chaos(name, self.namespace, self.app_labels, action, tc, peer, labels, approximates)
        try:
            self._create(name, body)
        except KubeError as exc:
            if exc.status != 409:
                raise
            self.delete(name)  # left by a run that died: take it over with this run's spec
            self._create(name, body)
        self.wait_injected(name)
        return name

    def wait_injected(self, name: str) -> None:
        why = self._wait(name, self.inject_timeout,
                         lambda obj: injected(obj) if obj is not None else (False, "not found"))
        if why:
            raise TargetError(f"networkchaos/{name} in namespace {self.namespace!r} not injected within "
                              f"{self.inject_timeout:.0f}s: {why}")

    def delete(self, name: str, timeout: float = INJECT_TIMEOUT_S) -> None:
        """Delete one object (gone already: nothing to do) and wait until Chaos Mesh has recovered and removed it."""
        try:
            self.client.call(f"delete networkchaos/{name}", self.client.custom.delete_namespaced_custom_object,
                             GROUP, VERSION, self.namespace, PLURAL, name)
        except KubeError as exc:
            if exc.status != 404:
                raise
        if self._wait(name, timeout, lambda obj: (obj is None, "still there")):
            raise TargetError(f"networkchaos/{name} in namespace {self.namespace!r} still there {timeout:.0f}s "
                              "after its deletion (Chaos Mesh has not recovered the pods)")

    def delete_all(self) -> list[str]:
        """Every NetworkChaos gameday made in the namespace (``abort``/``halt``'s backstop)."""
        selector = policies.format_selector(policies.MANAGED_BY)
        try:
            listed = self.client.call("list networkchaos", self.client.custom.list_namespaced_custom_object,
                                      GROUP, VERSION, self.namespace, PLURAL, label_selector=selector)
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        names = [str((o.get("metadata") or {}).get("name")) for o in listed.get("items") or []]
        for name in names:
            self.delete(name)
        return names


def engine_missing(settings: Settings, dependency: str | None) -> str | None:
    """Why the network faults cannot run on the configured cluster (the experiment is skipped), or None: the
    profile names a Toxiproxy proxy for ``dependency``, or Chaos Mesh is installed. An API server that cannot be
    asked is not a reason to skip: the run itself reports it."""
    kube = settings.service.kubernetes
    named = kube.toxiproxy.proxies if kube is not None and kube.toxiproxy is not None else {}
    if dependency in named:
        return None
    where = cluster(settings)
    client = KubeClient(where.kubeconfig, where.context)
    try:
        if installed(client):
            return None
    except KubeError:
        return None
    finally:
        client.close()
    toxiproxy = (f"a Toxiproxy proxy for {dependency} (kubernetes.toxiproxy.proxies)" if kube is not None
                 and kube.toxiproxy is not None else "a Toxiproxy")
    return f"neither Chaos Mesh (no {GROUP} API) nor {toxiproxy} in namespace {where.namespace}"
