"""REST semantics on top of the store: defaulting, validation, status/scale subresources,
optimistic concurrency, graceful pod deletion and garbage collection of dependents.

Both the HTTP layer and the controllers go through :class:`Api`; controllers pass
``internal=True`` so that they may write ``status``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from . import defaults, errors, fieldvalidation, patch, validation
from .resources import BY_KEY, BY_KIND, RESOURCE_TYPES, ResourceType
from .selectors import labels_match, parse_field_selector, parse_label_selector, selector_object_to_string
from .store import Obj, Store, jcopy
from .timefmt import now, rfc3339

CORE = {rt.plural: rt for rt in RESOURCE_TYPES if rt.group == ""}
APPS = {rt.plural: rt for rt in RESOURCE_TYPES if rt.group == "apps"}
NAMESPACES = CORE["namespaces"]
PODS = CORE["pods"]
SERVICES = CORE["services"]
ENDPOINTS = CORE["endpoints"]
CONFIGMAPS = CORE["configmaps"]
EVENTS = CORE["events"]
NODES = CORE["nodes"]
DEPLOYMENTS = APPS["deployments"]
REPLICASETS = APPS["replicasets"]
STATEFULSETS = APPS["statefulsets"]
PDBS = BY_KEY[("policy", "poddisruptionbudgets")]
NETPOLS = BY_KEY[("networking.k8s.io", "networkpolicies")]

#: DELETE answers with the object itself for these (as the real server does); a Status otherwise
RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services")}
_SCALABLE = {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets")}


def random_suffix(n: int = 5) -> str:
    """Random lowercase suffix like the API server's ``generateName`` (vowel-free alphabet)."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(random.choice(alphabet) for _ in range(n))


# what the API server fills in on create, by kind (Service needs allocators: see Api._apply_defaults)
_DEFAULTERS = {
    "Pod": defaults.default_pod,
    "Deployment": defaults.default_deployment,
    "ReplicaSet": defaults.default_replicaset,
    "StatefulSet": defaults.default_statefulset,
    "Namespace": defaults.default_namespace,
    "NetworkPolicy": defaults.default_network_policy,
    "PodDisruptionBudget": defaults.default_pdb,
    "Event": defaults.default_event,
    "Secret": defaults.default_secret,
}

class Api:
    """The API server's registry layer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cluster_ips = defaults.IpAllocator("10.96", first=1)  # 10.96.0.1 is the kubernetes Service
        self._node_port = 30000
        #: hooks run (under the store lock) when a pod is finally removed: kubelet/log cleanup
        self.on_pod_removed: list[Callable[[Obj], None]] = []

    # -- helpers ---------------------------------------------------------------------------------------
    def _allocate_node_port(self) -> int:
        self._node_port += 1
        return self._node_port

    def _set_type_meta(self, rt: ResourceType, obj: Obj) -> Obj:
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    def _apply_defaults(self, rt: ResourceType, obj: Obj) -> None:
        if rt.kind == "Service":
            defaults.default_service(obj, self.cluster_ips.allocate, self._allocate_node_port)
        elif rt.kind in _DEFAULTERS:
            _DEFAULTERS[rt.kind](obj)

    def _check_namespace(self, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
        meta = obj.setdefault("metadata", {})
        if not rt.namespaced:
            meta.pop("namespace", None)
            return
        if not namespace:
            raise errors.bad_request("a namespace is required for namespaced resources")
        body_ns = meta.get("namespace")
        if body_ns and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace

    def _require_namespace(self, namespace: str) -> None:
        if self.store.get(NAMESPACES, None, namespace) is None:
            raise errors.not_found("namespaces", "", namespace)

    # -- reads -----------------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        """GET one object (404 when missing)."""
        obj = self.store.get(rt, namespace if rt.namespaced else None, name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return self._set_type_meta(rt, obj)

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], int]:
        """LIST objects (namespace None = all namespaces) filtered by selectors; returns (items, rv)."""
        reqs = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, rt.plural)
        with self.store.lock:
            rv = self.store.resource_version
            items = [
                self._set_type_meta(rt, jcopy(o))
                for o in self.store.view(rt, namespace if rt.namespaced else None)
                if labels_match(reqs, o["metadata"].get("labels")) and fields(o)
            ]
        return items, rv

    def matcher(
        self, rt: ResourceType, namespace: str | None, label_selector: str | None, field_selector: str | None
    ) -> Callable[[Obj], bool]:
        """A predicate for watch filtering (namespace + selectors)."""
        reqs = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, rt.plural)

        def match(obj: Obj) -> bool:
            meta = obj.get("metadata", {})
            if rt.namespaced and namespace and meta.get("namespace") != namespace:
                return False
            return labels_match(reqs, meta.get("labels")) and fields(obj)

        return match

    # -- writes ----------------------------------------------------------------------------------------
    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: Obj,
        *,
        dry_run: bool = False,
        internal: bool = False,
        field_validation: str | None = None,
        manager: str | None = None,
    ) -> Obj:
        """POST: default, validate and store a new object (201). A controller that names itself (``manager``) is
        recorded in ``metadata.managedFields`` with the time, as the real server records every writer."""
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON object")
        obj = jcopy(obj)
        if obj.get("kind") and obj.get("kind") != rt.kind:
            raise errors.bad_request(f"the kind {obj.get('kind')!r} in the body does not match {rt.kind!r}")
        self._check_namespace(rt, namespace, obj)
        fieldvalidation.check(self._set_type_meta(rt, jcopy(obj)), field_validation)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        for k in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ):
            if not internal:
                meta.pop(k, None)
        if rt.status_subresource and not internal:
            obj.pop("status", None)
        self._apply_defaults(rt, obj)
        validation.validate(rt, obj)
        if internal and manager is not None:
            meta["managedFields"] = [_manager_entry(manager, obj.get("apiVersion", "v1"))]
        with self.store.lock:
            if rt.namespaced:
                self._require_namespace(meta["namespace"])
            if dry_run:
                if self.store.peek(rt, meta.get("namespace"), meta["name"]) is not None:
                    raise errors.already_exists(rt.plural, rt.group, meta["name"])
                return self._set_type_meta(rt, obj)
            return self._set_type_meta(rt, self.store.create(rt, self._set_type_meta(rt, obj)))

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        internal: bool = False,
        field_validation: str | None = None,
        manager: str | None = None,
    ) -> Obj:
        """PUT: replace an object (or only its status with ``subresource='status'``).

        A client's change is stamped in ``metadata.managedFields`` with its manager and time, as the real server
        does: the only record a cluster keeps of when a ConfigMap was last edited. A controller's (``internal``) is
        stamped when it names itself (``manager``): the Deployment controller's writes of a ReplicaSet's revision and
        scale are how a cluster dates when a revision became current."""
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON object")
        obj = jcopy(obj)
        self._check_namespace(rt, namespace, obj)
        fieldvalidation.check(self._set_type_meta(rt, jcopy(obj)), field_validation)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        meta["name"] = name
        with self.store.lock:
            current = self.store.get(rt, namespace if rt.namespaced else None, name)
            if current is None:
                raise errors.not_found(rt.plural, rt.group, name)
            if subresource == "status":
                new = jcopy(current)
                new["status"] = obj.get("status", {})
                if meta.get("resourceVersion"):
                    new["metadata"]["resourceVersion"] = meta["resourceVersion"]
                obj = new
            elif rt.status_subresource and not internal:
                if "status" in current:
                    obj["status"] = current["status"]
                else:
                    obj.pop("status", None)
            self._apply_defaults(rt, obj)
            validation.validate(rt, obj, current)
            if subresource is None and (not internal or manager is not None):
                _stamp_manager(obj, current, manager or "unknown")
            if dry_run:
                return self._set_type_meta(rt, obj)
            return self._set_type_meta(rt, self.store.update(rt, self._set_type_meta(rt, obj)))

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
        manager: str | None = None,
    ) -> Obj:
        """PATCH with any of the supported patch media types."""
        with self.store.lock:
            current = self.get(rt, namespace, name)
            patched = patch.apply_patch(content_type, current, body)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch produced something that is not an object")
            return self.update(
                rt,
                namespace,
                name,
                patched,
                subresource=subresource,
                dry_run=dry_run,
                field_validation=field_validation,
                manager=manager,
            )

    # -- scale subresource -----------------------------------------------------------------------------
    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        """GET .../scale: an ``autoscaling/v1`` Scale."""
        if rt.key not in _SCALABLE:
            raise errors.not_found_path(f"{rt.plural}/scale")
        obj = self.get(rt, namespace, name)
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_object_to_string(obj["spec"].get("selector")),
            },
        }

    def update_scale(
        self, rt: ResourceType, namespace: str, name: str, scale: Obj, *, dry_run: bool = False
    ) -> Obj:
        """PUT .../scale."""
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    (
                        "spec.replicas",
                        "FieldValueInvalid",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    )
                ],
            )
        with self.store.lock:
            obj = self.get(rt, namespace, name)
            sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != obj["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            obj["spec"]["replicas"] = replicas
            if not dry_run:
                self.update(rt, namespace, name, obj)
            result = self.get_scale(rt, namespace, name)
            result["spec"]["replicas"] = replicas
            return result

    def patch_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        *,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH .../scale."""
        with self.store.lock:
            scale = self.get_scale(rt, namespace, name)
            return self.update_scale(
                rt, namespace, name, patch.apply_patch(content_type, scale, body), dry_run=dry_run
            )

    # -- deletion --------------------------------------------------------------------------------------
    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: Obj | None = None,
        *,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE; returns the response body (the object for pods/services, else a Status)."""
        options = options or {}
        with self.store.lock:
            current = self.get(rt, namespace, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != current["metadata"]["uid"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    "Precondition failed: UID in precondition: "
                    f"{pre['uid']}, UID in object meta: {current['metadata']['uid']}",
                )
            if (
                pre.get("resourceVersion")
                and pre["resourceVersion"] != current["metadata"]["resourceVersion"]
            ):
                raise errors.conflict(rt.plural, rt.group, name)
            if dry_run:
                final = current
            elif rt.kind == "Pod" and self._graceful(current, options):
                grace = options.get("gracePeriodSeconds")
                if grace is None:
                    grace = current["spec"].get("terminationGracePeriodSeconds", 30)
                final = self._set_type_meta(rt, self.store.mark_deleting(rt, namespace, name, int(grace)))
            else:
                final = self.remove(rt, namespace, name, options.get("propagationPolicy"))
        if rt.key in RETURNS_DELETED_OBJECT:
            return final
        details = {"name": name, "kind": rt.plural, "uid": final["metadata"]["uid"]}
        if rt.group:
            details["group"] = rt.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    @staticmethod
    def _graceful(pod: Obj, options: Obj) -> bool:
        grace = options.get("gracePeriodSeconds")
        if grace is not None and int(grace) <= 0:
            return False
        if not pod["spec"].get("nodeName"):
            return False  # never scheduled: nothing to stop
        return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")

    def remove(
        self, rt: ResourceType, namespace: str | None, name: str, propagation: str | None = None
    ) -> Obj:
        """Remove an object now and garbage-collect its dependents (Background/Foreground/Orphan)."""
        with self.store.lock:
            final = self._set_type_meta(rt, self.store.delete(rt, namespace if rt.namespaced else None, name))
            if rt.kind == "Pod":
                for hook in self.on_pod_removed:
                    hook(final)
            if rt.kind == "Namespace":
                self._purge_namespace(name)
            self._collect_dependents(final, propagation or "Background")
            return final

    def _collect_dependents(self, owner: Obj, propagation: str) -> None:
        uid = owner["metadata"]["uid"]
        namespace = owner["metadata"].get("namespace")
        for rt in RESOURCE_TYPES:
            if not rt.namespaced or namespace is None:
                continue
            for dep in self.store.view(rt, namespace):
                refs = dep["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                dep = jcopy(dep)
                if propagation == "Orphan":
                    dep["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid] or None
                    if dep["metadata"]["ownerReferences"] is None:
                        del dep["metadata"]["ownerReferences"]
                    self.store.update(rt, dep, check_rv=False)
                elif rt.kind == "Pod":
                    self.delete(rt, namespace, dep["metadata"]["name"], {"propagationPolicy": "Background"})
                else:
                    self.remove(rt, namespace, dep["metadata"]["name"], "Background")

    def _purge_namespace(self, namespace: str) -> None:
        for rt in RESOURCE_TYPES:
            if rt.namespaced:
                for obj in self.store.view(rt, namespace):
                    if self.store.peek(rt, namespace, obj["metadata"]["name"]) is not None:
                        self.remove(rt, namespace, obj["metadata"]["name"], "Background")

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        options: Obj | None = None,
        *,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE on a collection: deletes every matching object; answers with the list of them."""
        with self.store.lock:
            items, _rv = self.list(rt, namespace, label_selector, field_selector)
            deleted = []
            for item in items:
                name = item["metadata"]["name"]
                if self.store.peek(rt, item["metadata"].get("namespace"), name) is None:
                    continue
                self.delete(rt, item["metadata"].get("namespace"), name, options, dry_run=dry_run)
                deleted.append(item)
            return {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": deleted,
            }


def kind_of(api_version: str, kind: str) -> ResourceType | None:
    """Resource type for an object's apiVersion/kind (used by the seeder and tests)."""
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return BY_KIND.get((group, kind))


def _content(obj: Obj) -> Obj:
    """What a client changes: everything but status and the server's own metadata."""
    meta = obj.get("metadata") or {}
    return {
        **{k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")},
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }


def _stamp_manager(obj: Obj, current: Obj, manager: str) -> None:
    """``metadata.managedFields``: the manager's entry gets the time of a change that changed something."""
    entries = [e for e in (current["metadata"].get("managedFields") or []) if e.get("manager") != manager]
    if _content(obj) == _content(current):
        obj["metadata"]["managedFields"] = current["metadata"].get("managedFields") or []
        return
    entries.append(_manager_entry(manager, current.get("apiVersion", "v1")))
    obj["metadata"]["managedFields"] = entries


def _manager_entry(manager: str, api_version: str) -> Obj:
    return {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": rfc3339(now()),
            "fieldsType": "FieldsV1", "fieldsV1": {}}
