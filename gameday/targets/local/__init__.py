"""The local target: the stack on this machine (supervisord, HAProxy, the dependencies, Prometheus), cut by resource."""
