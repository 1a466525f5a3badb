"""Where the service lives on a Kubernetes cluster."""

from __future__ import annotations

from pydantic import Field

from gameday.profile.base import StrictModel


class KubernetesToxiproxy(StrictModel):
    """A Toxiproxy in the service's namespace, driven through the API server's service proxy (network faults)."""

    service: str = Field("toxiproxy", description="its Service")
    port: int = Field(8474, ge=1, le=65535, description="the Service port of its HTTP API")
    proxies: dict[str, str] = Field(
        default_factory=dict, description="dependency name -> the Toxiproxy proxy the service's pods connect through")


class Kubernetes(StrictModel):
    """Where the service lives on a cluster."""

    namespace: str = Field("production", description="the service's namespace")
    deployment: str = Field(description="its Deployment")
    container: str | None = Field(None, description="default: the deployment's first container")
    label_selector: str = Field(description="selects its pods, e.g. app=ecommerce-backend")
    service: str = Field(description="its Service")
    configmap: str | None = Field(None, description="its configuration (the bad-config experiment edits it)")
    base_url: str | None = Field(None, description="the service's URL as the runner reaches it")
    bad_image: str | None = Field(None, description="the known-bad release's image")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="the pods' port serving service.metrics (default: the Service's target port)")
    bad_config: dict[str, str] = Field(
        default_factory=dict, description="configuration changes that break the service (default: local.bad_config)")
    workloads: dict[str, str] = Field(
        default_factory=dict, description="dependency name -> its Deployment/StatefulSet name (default: the name)")
    toxiproxy: KubernetesToxiproxy | None = Field(
        None, description="a Toxiproxy deployed in the namespace that the service's pods reach dependencies through")

