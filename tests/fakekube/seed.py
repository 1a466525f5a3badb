"""The ecommerce scenario: the objects that ``FakeKube.seed_ecommerce`` creates."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

BACKEND = "ecommerce-backend"
BACKEND_IMAGE = "ecommerce-backend:1.4.2"
CONFIGMAP = "ecommerce-backend-config"
CONFIG_DATA = {
    "DB_HOST": "postgres",
    "REDIS_HOST": "redis",
    "KAFKA_BOOTSTRAP": "kafka:9092",
    "APP_VERSION": "1.4.2",
}
DEPENDENCIES: dict[str, tuple[str, int]] = {
    "postgres": ("postgres:15", 5432),
    "redis": ("redis:7.0", 6379),
    "kafka": ("apache/kafka:3.7.0", 9092),
}


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def backend_configmap(ns: str, data: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": ns, "labels": {"app": BACKEND}},
        "data": dict(data or CONFIG_DATA),
    }


def backend_deployment(ns: str, replicas: int = 3, image: str = BACKEND_IMAGE) -> Obj:
    probe = {"httpGet": {"path": "/readyz", "port": 8000}, "initialDelaySeconds": 2, "periodSeconds": 5}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": BACKEND, "namespace": ns, "labels": {"app": BACKEND}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": BACKEND}},
            "template": {
                "metadata": {"labels": {"app": BACKEND}},
                "spec": {
                    "containers": [
                        {
                            "name": BACKEND,
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "envFrom": [{"configMapRef": {"name": CONFIGMAP}}],
                            "readinessProbe": probe,
                            "livenessProbe": {
                                **probe,
                                "httpGet": {"path": "/healthz", "port": 8000},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                            },
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "512Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def backend_service(ns: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": BACKEND, "namespace": ns, "labels": {"app": BACKEND}},
        "spec": {
            "selector": {"app": BACKEND},
            "ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}],
        },
    }


def backend_pdb(ns: str) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": BACKEND, "namespace": ns, "labels": {"app": BACKEND}},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": BACKEND}}},
    }


def dependency_statefulset(ns: str, name: str, image: str, port: int) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": name, "image": image, "ports": [{"name": "tcp", "containerPort": port}]}
                    ]
                },
            },
        },
    }


def dependency_service(ns: str, name: str, port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [{"name": "tcp", "port": port, "targetPort": port}]},
    }


def ecommerce_objects(ns: str) -> list[Obj]:
    """Every object of the scenario, in creation order (dependencies first)."""
    objs: list[Obj] = [namespace(ns)]
    for name, (image, port) in DEPENDENCIES.items():
        objs += [dependency_service(ns, name, port), dependency_statefulset(ns, name, image, port)]
    objs += [backend_configmap(ns), backend_service(ns), backend_deployment(ns), backend_pdb(ns)]
    return objs
