"""In-memory object storage with resourceVersions and a change feed for watches.

The store knows nothing about API semantics (defaults, validation, controllers): it keeps
JSON-like dicts, stamps system metadata, enforces optimistic concurrency, and records every
change in a bounded feed that watchers read from.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import errors
from .resources import ResourceType
from .timefmt import now, rfc3339

Obj = dict[str, Any]

#: how many changes are kept for watches that resume from an older resourceVersion
HISTORY = 5000


@dataclass(frozen=True)
class Change:
    """One entry of the change feed.

    ``obj``/``old`` are the stored versions themselves, shared with the store: stored objects are
    never mutated in place (every write stores a new dict), so they are immutable snapshots.
    """

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: tuple[str, str]  # ResourceType.key
    obj: Obj
    old: Obj | None


def jcopy(value: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, scalars): several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: jcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jcopy(v) for v in value]
    return value


def _spec_of(obj: Obj) -> Any:
    """What counts as "spec" for generation bumps (everything but metadata and status)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


class Store:
    """Thread-safe object store.

    ``get``/``list`` and the write methods return deep copies; ``peek``/``iter``/``view`` return the
    stored objects themselves, which callers must treat as read-only.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._rv = 0
        self._feed: deque[Change] = deque(maxlen=HISTORY)
        self._listeners: list[Callable[[Change], None]] = []

    # -- resourceVersion -------------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        with self.lock:
            return self._rv

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def add_listener(self, fn: Callable[[Change], None]) -> None:
        """Call ``fn`` (under the store lock) after every change."""
        with self.lock:
            self._listeners.append(fn)

    def _record(self, change: Change) -> None:
        self._feed.append(change)
        for fn in self._listeners:
            fn(change)
        self.changed.notify_all()

    # -- reads -----------------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """A copy of one object, or None."""
        with self.lock:
            obj = self._objects.get(rt.key, {}).get((namespace or "", name))
            return jcopy(obj) if obj is not None else None

    def peek(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The stored object itself (no copy): callers must hold ``lock`` and must not mutate it."""
        return self._objects.get(rt.key, {}).get((namespace or "", name))

    def list(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """Copies of all objects of a type, optionally in one namespace, sorted by namespace/name."""
        with self.lock:
            return [jcopy(o) for o in self.iter(rt, namespace)]

    def view(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """The stored objects themselves (no copies), for read-only scans by callers holding ``lock``.

        Stored objects are never mutated in place (writes replace them), so a view stays a
        consistent snapshot even if the caller writes while iterating it.
        """
        with self.lock:
            return list(self.iter(rt, namespace))

    def iter(self, rt: ResourceType, namespace: str | None = None) -> Iterator[Obj]:
        """Stored objects (no copies; hold ``lock``), sorted by namespace/name."""
        bucket = self._objects.get(rt.key, {})
        for (ns, _name), obj in sorted(bucket.items()):
            if namespace is None or ns == namespace:
                yield obj

    def find_uid(self, uid: str) -> tuple[tuple[str, str], Obj] | None:
        """Locate an object of any type by uid (used by the garbage collector)."""
        with self.lock:
            for key, bucket in self._objects.items():
                for obj in bucket.values():
                    if obj["metadata"].get("uid") == uid:
                        return key, obj
        return None

    def uids(self) -> set[str]:
        """All uids currently stored."""
        with self.lock:
            return {o["metadata"]["uid"] for b in self._objects.values() for o in b.values()}

    # -- writes ----------------------------------------------------------------------------------------
    def create(self, rt: ResourceType, obj: Obj) -> Obj:
        """Insert a new object, stamping uid, resourceVersion, creationTimestamp and generation."""
        with self.lock:
            meta = obj.setdefault("metadata", {})
            ns = meta.get("namespace", "") if rt.namespaced else ""
            name = meta["name"]
            bucket = self._objects.setdefault(rt.key, {})
            if (ns, name) in bucket:
                raise errors.already_exists(rt.plural, rt.group, name)
            obj = jcopy(obj)
            meta = obj["metadata"]
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = rfc3339(now())
            meta["resourceVersion"] = str(self._next_rv())
            meta.pop("deletionTimestamp", None)
            meta.pop("selfLink", None)
            if rt.has_spec:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            bucket[(ns, name)] = obj
            self._record(Change(self._rv, "ADDED", rt.key, obj, None))
            return jcopy(obj)

    def update(self, rt: ResourceType, obj: Obj, *, check_rv: bool = True) -> Obj:
        """Replace an object; refuses a stale ``metadata.resourceVersion`` with 409 Conflict.

        System metadata (uid, creationTimestamp, generation) is carried over from the stored
        object; generation is bumped when anything outside metadata/status changed.
        """
        with self.lock:
            meta = obj.get("metadata", {})
            ns = meta.get("namespace", "") if rt.namespaced else ""
            name = meta["name"]
            bucket = self._objects.setdefault(rt.key, {})
            current = bucket.get((ns, name))
            if current is None:
                raise errors.not_found(rt.plural, rt.group, name)
            sent_rv = meta.get("resourceVersion")
            if check_rv and sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            new = jcopy(obj)
            nmeta = new["metadata"]
            cmeta = current["metadata"]
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if k in cmeta:
                    nmeta[k] = cmeta[k]
                else:
                    nmeta.pop(k, None)
            if rt.has_spec:
                gen = cmeta.get("generation", 1)
                if _spec_of(new) != _spec_of(current):
                    gen += 1
                nmeta["generation"] = gen
            nmeta["resourceVersion"] = cmeta["resourceVersion"]
            if new == current:
                return jcopy(current)  # no-op: the real server does not bump the resourceVersion
            nmeta["resourceVersion"] = str(self._next_rv())
            bucket[(ns, name)] = new
            self._record(Change(self._rv, "MODIFIED", rt.key, new, current))
            return jcopy(new)

    def mark_deleting(self, rt: ResourceType, namespace: str | None, name: str, grace: int) -> Obj:
        """Set deletionTimestamp/deletionGracePeriodSeconds (graceful deletion of pods)."""
        with self.lock:
            ns = (namespace or "") if rt.namespaced else ""
            current = self.peek(rt, namespace, name)
            if current is None:
                raise errors.not_found(rt.plural, rt.group, name)
            if "deletionTimestamp" in current["metadata"]:
                return jcopy(current)
            new = jcopy(current)
            new["metadata"]["deletionTimestamp"] = rfc3339(now() + grace)
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            new["metadata"]["resourceVersion"] = str(self._next_rv())
            self._objects[rt.key][(ns, name)] = new
            self._record(Change(self._rv, "MODIFIED", rt.key, new, current))
            return jcopy(new)

    def delete(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        """Remove an object for good; returns its final state."""
        with self.lock:
            ns = (namespace or "") if rt.namespaced else ""
            bucket = self._objects.setdefault(rt.key, {})
            current = bucket.pop((ns, name), None)
            if current is None:
                raise errors.not_found(rt.plural, rt.group, name)
            current = jcopy(current)
            current["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record(Change(self._rv, "DELETED", rt.key, current, None))
            return jcopy(current)

    def rewrite_history(self, fn: Callable[[Obj], Obj]) -> None:
        """Replace every stored object by ``fn(copy)`` without a new resourceVersion or a change in the feed: what
        the cluster *recorded* is rewritten (:meth:`FakeKube.age`), nothing happened that a watch should see."""
        with self.lock:
            for bucket in self._objects.values():
                for key, obj in list(bucket.items()):
                    bucket[key] = fn(jcopy(obj))

    # -- change feed -----------------------------------------------------------------------------------
    def changes_since(self, rv: int) -> tuple[list[Change], bool]:
        """Changes with resourceVersion > ``rv``; the flag is False when history no longer reaches back."""
        with self.lock:
            if self._feed and self._feed[0].rv > rv + 1:
                return [], False
            return [c for c in self._feed if c.rv > rv], True

    def wait_for_change(self, after_rv: int, timeout: float) -> bool:
        """Block until the store moved past ``after_rv`` (True) or ``timeout`` passed (False)."""
        with self.changed:
            if self._rv > after_rv:
                return True
            self.changed.wait(timeout)
            return self._rv > after_rv

    def wake_all(self) -> None:
        """Wake every waiter (used on shutdown)."""
        with self.changed:
            self.changed.notify_all()
