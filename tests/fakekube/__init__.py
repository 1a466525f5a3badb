"""A stateful fake Kubernetes API server for tests (kubectl, ``kubernetes`` and chaosk8s run unchanged).

Typical use::

    from tests.fakekube import FakeKube

    with FakeKube.start() as kube:
        kube.seed_ecommerce("production")
        path = kube.write_kubeconfig(tmp_path)   # then: kubectl --kubeconfig path get pods -n production
"""

from .apps import Answer, HttpRule, SimulatedApps
from .fake import FakeKube, WaitTimeout
from .kubeconfig import kubeconfig_dict, write_kubeconfig
from .kubelet import EcommerceRules, KubeletConfig, PodContext, Verdict, pod_is_ready

__all__ = [
    "Answer",
    "EcommerceRules",
    "FakeKube",
    "HttpRule",
    "KubeletConfig",
    "PodContext",
    "SimulatedApps",
    "Verdict",
    "WaitTimeout",
    "kubeconfig_dict",
    "pod_is_ready",
    "write_kubeconfig",
]
