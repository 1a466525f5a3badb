"""Writes a kubeconfig that points kubectl, the ``kubernetes`` client and chaosk8s at the fake."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def kubeconfig_dict(url: str, context: str = "fake-kube", namespace: str = "production") -> dict:
    """A kubeconfig with one plain-HTTP cluster, an anonymous user and one context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": url}}],
        # a token is never checked; it keeps clients that insist on credentials quiet
        "users": [{"name": f"{context}-user", "user": {"token": "fakekube"}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": f"{context}-user", "namespace": namespace},
            }
        ],
        "current-context": context,
    }


def write_kubeconfig(
    url: str,
    directory: str | os.PathLike[str],
    context: str = "fake-kube",
    namespace: str = "production",
    filename: str = "kubeconfig",
) -> Path:
    """Write the kubeconfig into ``directory`` (mode 0600) and return its path."""
    path = Path(directory) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig_dict(url, context, namespace), sort_keys=False))
    path.chmod(0o600)
    return path
