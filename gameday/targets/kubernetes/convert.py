"""API objects (typed, as the ``kubernetes`` client returns them) in the target interface's words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gameday.targets.kubernetes.rollout import HASH_LABEL, image_tag
from gameday.targets.model import Endpoint, Event, Replica

# a waiting container's reason is a better phase than the pod's "Running"/"Pending" (kubectl's STATUS column)
WAITING_REASONS_SHOWN = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "CreateContainerError",
    "ContainerCreating", "InvalidImageName", "RunContainerError", "PodInitializing",
})


def timestamp(value: datetime | None) -> float | None:
    """A datetime as epoch seconds."""
    return value.timestamp() if value is not None else None


def is_ready(pod: Any) -> bool:
    """The pod's Ready condition."""
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def main_status(pod: Any, container: str) -> Any | None:
    """The status of the container called ``container``, else of the first container."""
    statuses = pod.status.container_statuses or []
    return next((s for s in statuses if s.name == container), statuses[0] if statuses else None)


def pod_phase(pod: Any, container: str) -> str:
    """Terminating, a waiting reason (CrashLoopBackOff ...), or the pod's phase (``kubectl get pods``' STATUS: a hung
    container is Running; only its failing probes tell)."""
    if pod.metadata.deletion_timestamp is not None:
        return "Terminating"
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason in WAITING_REASONS_SHOWN:
            return str(waiting.reason)
    return str(pod.status.phase or "Unknown")


def to_replica(pod: Any, container: str, revisions: dict[str, int], port: int | None) -> Replica:
    """A pod as a :class:`Replica` (``kubectl get pods``: STATUS, READY, RESTARTS)."""
    spec_container = next((c for c in pod.spec.containers if c.name == container), pod.spec.containers[0])
    status = main_status(pod, container)
    image = (status.image if status is not None and status.image else None) or spec_container.image or ""
    restarts = sum(s.restart_count or 0 for s in pod.status.container_statuses or [])
    ip = pod.status.pod_ip
    return Replica(
        name=pod.metadata.name,
        phase=pod_phase(pod, container),
        ready=is_ready(pod) and pod.metadata.deletion_timestamp is None,
        restarts=restarts,
        revision=revisions.get((pod.metadata.labels or {}).get(HASH_LABEL, "")),
        version=image_tag(spec_container.image or image) or None,
        pid=None,
        address=f"{ip}:{port}" if ip and port else ip,
        started_at=timestamp(pod.status.start_time),
    )


def container_port(pod_spec: Any, container: str) -> int | None:
    """The first container port of the main container."""
    spec_container = next((c for c in pod_spec.containers if c.name == container), pod_spec.containers[0])
    ports = spec_container.ports or []
    return ports[0].container_port if ports else None


def to_endpoints(endpoints: Any) -> list[Endpoint]:
    """An Endpoints object: ``addresses`` are ready, ``notReadyAddresses`` are not."""
    out: list[Endpoint] = []
    for subset in endpoints.subsets or []:
        ports = subset.ports or []
        port = ports[0].port if ports else None
        for ready, addresses in ((True, subset.addresses or []), (False, subset.not_ready_addresses or [])):
            for address in addresses:
                name = address.target_ref.name if address.target_ref is not None else address.ip
                where = f"{address.ip}:{port}" if port else address.ip
                out.append(Endpoint(name=name, address=where, ready=ready, state="ready" if ready else "not ready"))
    return sorted(out, key=lambda e: e.name)


def event_time(event: Any) -> float:
    """When an event last happened: lastTimestamp, eventTime, firstTimestamp, then creation."""
    for value in (event.last_timestamp, event.event_time, event.first_timestamp, event.metadata.creation_timestamp):
        if value is not None:
            return value.timestamp()
    return 0.0


def to_event(event: Any) -> Event:
    """A core/v1 Event as an :class:`Event` (object as ``kind/name``)."""
    involved = event.involved_object
    what = f"{(involved.kind or '').lower()}/{involved.name}" if involved is not None else ""
    count = f" (x{event.count})" if event.count and event.count > 1 else ""
    source = (event.source.component if event.source is not None else None) or event.reporting_component or ""
    return Event(timestamp=event_time(event), type=event.type or "Normal", reason=event.reason or "",
                 object=what, message=f"{event.message or ''}{count}", source=source)
