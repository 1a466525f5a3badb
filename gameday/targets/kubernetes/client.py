"""The API client of the kubernetes target: its own ``ApiClient`` (never the global default) and one-line errors.

Every call goes through :meth:`KubeClient.call` (typed, pydantic-validated answers) or :meth:`KubeClient.raw`
(the JSON as the server sent it, for pod templates that must round-trip unchanged). Whatever goes wrong
- a missing or malformed kubeconfig, an unknown context, an API server that does not answer, an API
error, an answer that does not validate - becomes a :class:`KubeError` (a ``TargetError``) with one line.

The kubernetes library (and urllib3 under it) is imported when a :class:`KubeClient` is made, not with this module:
~0.2 s that every command would pay otherwise, since the guard's records import this module on every start, whatever
the target. It is imported there, in the caller's thread, so that no API call pays it inside a time budget (the
diagnosis's parallel calls); the methods' own imports of it then only look it up.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
import yaml

from gameday.targets.model import TargetError

if TYPE_CHECKING:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

REQUEST_TIMEOUT_S = 10.0  # one API request; a watch is never used


class KubeError(TargetError):
    """An API call failed; ``status`` is the HTTP status when the server answered (404, 409 ...)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubeconfigError(KubeError):
    """The kubeconfig file itself is missing or malformed: a configuration error (exit 2)."""

    exit_code = 2


def default_kubeconfig() -> str:
    """The kubeconfig kubectl would use: ``$KUBECONFIG`` (first file of a list) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return str(Path(first or "~/.kube/config").expanduser())


def api_message(exc: ApiException) -> str:
    """The ``message`` of the server's Status object, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except (TypeError, ValueError):
        pass
    return f"{exc.status} {exc.reason}".strip()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class KubeClient:
    """A lazily built ``ApiClient`` for one kubeconfig file and context."""

    def __init__(self, kubeconfig: str | None, context: str | None, timeout: float = REQUEST_TIMEOUT_S) -> None:
        import kubernetes.client  # noqa: F401  (the library, ~0.2 s: now, before any call; see the module's doc)

        self.kubeconfig = str(Path(kubeconfig).expanduser()) if kubeconfig else default_kubeconfig()
        self.requested_context = context
        self.timeout = timeout
        self._api: client.ApiClient | None = None
        self._context: str | None = None
        self._lock = threading.Lock()

    # --- configuration -----------------------------------------------------------------------------
    def _contexts(self) -> tuple[list[str], str | None]:
        """The context names of the kubeconfig file and its current-context."""
        path = Path(self.kubeconfig)
        if not path.is_file():
            raise KubeconfigError(f"kubeconfig not found: {self.kubeconfig} (set KUBECONFIG or kubernetes.kubeconfig)")
        try:
            data = yaml.safe_load(path.read_text())
        except UnicodeDecodeError:
            raise KubeconfigError(f"bad kubeconfig {self.kubeconfig}: not text (binary?), expected YAML") from None
        except (OSError, yaml.YAMLError) as exc:
            raise KubeconfigError(f"bad kubeconfig {self.kubeconfig}: {_one_line(exc)}") from None
        if not isinstance(data, dict):
            raise KubeconfigError(f"bad kubeconfig {self.kubeconfig}: not a kubeconfig (expected a mapping)")
        contexts = data.get("contexts") or []
        if not isinstance(contexts, list):
            raise KubeconfigError(f"bad kubeconfig {self.kubeconfig}: 'contexts' is not a list")
        names = [str(c["name"]) for c in contexts if isinstance(c, dict) and c.get("name")]
        current = data.get("current-context") or None
        return names, str(current) if current else None

    @property
    def context(self) -> str:
        """The context in use: the configured one, else the kubeconfig's current-context."""
        if self._context is None:
            names, current = self._contexts()
            wanted = self.requested_context or current
            if not wanted:
                raise KubeError(f"kubeconfig {self.kubeconfig} has no current-context; pass --context")
            if wanted not in names:
                known = ", ".join(names) or "none"
                raise KubeError(f"context {wanted!r} not found in kubeconfig {self.kubeconfig} (contexts: {known})")
            self._context = wanted
        return self._context

    def context_name(self) -> str:
        """The context for people and the safety guard, without raising (the configured name as a fallback)."""
        try:
            return self.context
        except KubeError:
            return self.requested_context or ""

    @property
    def api(self) -> client.ApiClient:
        """The ApiClient, built on first use from the kubeconfig (its own Configuration, not the global one)."""
        with self._lock:
            if self._api is None:
                from kubernetes import client, config
                from kubernetes.config.config_exception import ConfigException

                context = self.context
                configuration = client.Configuration()
                configuration.retries = 1  # an API server that is down answers in one line, quickly
                try:
                    self._api = config.new_client_from_config(
                        config_file=self.kubeconfig, context=context, persist_config=False,
                        client_configuration=configuration,
                    )
                except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
                    raise KubeError(f"bad kubeconfig {self.kubeconfig} (context {context}): {_one_line(exc)}") from None
            return self._api

    @property
    def host(self) -> str:
        """The API server's URL."""
        return str(self.api.configuration.host)

    def close(self) -> None:
        """Close the connection pool."""
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None

    # --- API groups --------------------------------------------------------------------------------
    @property
    def core(self) -> client.CoreV1Api:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        from kubernetes import client

        return client.AppsV1Api(self.api)

    @property
    def networking(self) -> client.NetworkingV1Api:
        from kubernetes import client

        return client.NetworkingV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        """Custom resources (Chaos Mesh's NetworkChaos) and their API discovery."""
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    @property
    def coordination(self) -> client.CoordinationV1Api:
        from kubernetes import client

        return client.CoordinationV1Api(self.api)

    @property
    def version(self) -> client.VersionApi:
        from kubernetes import client

        return client.VersionApi(self.api)

    # --- calls -------------------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call an API method; any failure becomes a one-line :class:`KubeError` naming ``what``."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise KubeError(f"{what}: {api_message(exc)}", exc.status) from None
        except pydantic.ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise KubeError(f"{what}: the API server's answer did not validate ({where}: {first.get('msg')})") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise KubeError(
                f"cannot reach the API server {self.host} (context {self.context}): {_one_line(reason)}"
            ) from None

    def create_or_replace(self, what: str, create: Callable[..., Any], replace: Callable[..., Any], namespace: str,
                          body: dict[str, Any]) -> None:
        """Create ``body`` in ``namespace``, or replace the object of the same name with it whole: an object left by a
        run that died (or written by an older gameday) ends up with this spec, labels and annotations, never a merge
        of both (a patch would keep the old selector's extra labels). The replace names no resourceVersion, so it is
        unconditional, as the API server allows for the kinds gameday writes (NetworkPolicies); one deleted between
        the create and the replace is created again."""
        name = body["metadata"]["name"]
        for _ in range(3):
            try:
                self.call(f"create {what} {name}", create, namespace, body)
                return
            except KubeError as exc:
                if exc.status != 409:
                    raise
            try:
                self.call(f"replace {what} {name}", replace, name, namespace, body)
                return
            except KubeError as exc:
                if exc.status != 404:
                    raise
        raise KubeError(f"create {what} {name}: created and deleted by someone else three times in a row", 409)

    def text(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """Call an API method whose answer is not a Kubernetes object (a pod's metrics through the pod proxy): the
        body as sent, without the client's attempt to read it as JSON first."""
        response = self.call(what, fn, *args, _preload_content=False, **kwargs)
        return bytes(response.data).decode("utf-8", errors="replace")

    def raw(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call an API method and return the JSON object exactly as the server sent it."""
        response = self.call(what, fn, *args, _preload_content=False, **kwargs)
        try:
            return json.loads(response.data)
        except (TypeError, ValueError) as exc:
            raise KubeError(f"{what}: the API server's answer is not JSON ({_one_line(exc)})") from None
