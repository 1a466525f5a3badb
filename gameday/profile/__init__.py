"""The service profile: one YAML file that is the whole contract between gameday and the service it exercises.

gameday knows nothing of any service. Everything a team's service does differently (how it starts, its paths and
JSON shapes, its journeys, which dependencies it cannot live without, its SLOs and alert names, the runbooks its
game days follow) is written here, so a team onboards its own service with a profile file and no change to the
package.

Where the profile comes from (first found): ``--profile PATH``, ``GAMEDAY_PROFILE``, ``./gameday.yaml``, then the
reference service's ``profiles/ecommerce-backend.yaml``. A bad profile is reported as one line per problem naming the
file, the field and what was expected (:class:`ProfileError`, exit code 2), before anything is started.

One module per part of the profile: :mod:`~gameday.profile.traffic` (requests, endpoints, journeys, the load mix),
:mod:`~gameday.profile.dependency` (dependencies and their promises), :mod:`~gameday.profile.local` and
:mod:`~gameday.profile.kubernetes` (how each target runs it), :mod:`~gameday.profile.service` (the service, its SLOs,
alerts and metrics), :mod:`~gameday.profile.model` (the whole profile and its cross-field checks),
:mod:`~gameday.profile.local_checks` (the local section's placeholders), :mod:`~gameday.profile.environment` (the
environment variables it needs) and :mod:`~gameday.profile.loading` (finding, reading, explaining, the schema).
This is the bottom layer: it imports nothing of gameday's above ``dependencies``, ``placeholders`` and ``errors``.
"""

from gameday.profile.base import (
    DEFAULT_PROFILE,
    ENV_VAR,
    LB_URL,
    LOCAL_FILE,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_VALUES,
    PLACEHOLDER_HEADS,
    PROFILES_DIR,
    PROJECT_ROOT,
    REPLICA_PLACEHOLDERS,
    REQUEST_BUILTINS,
    HttpMethod,
    Name,
    OnOutage,
    ProfileError,
)
from gameday.profile.dependency import Breaker, Dependency, Fallback, Promises
from gameday.profile.environment import local_strings, missing_environment
from gameday.profile.jsonpath import json_matches
from gameday.profile.kubernetes import Kubernetes, KubernetesToxiproxy
from gameday.profile.loading import load, locate, schema, shown_path
from gameday.profile.loading import model_of as _model_of
from gameday.profile.local import BadRelease, ConfigFile, Database, Local, Process, Readiness, Release
from gameday.profile.model import DEFAULT_RUNBOOK, Profile
from gameday.profile.service import (
    Alerts,
    Detection,
    LabelName,
    MetricName,
    Metrics,
    MetricsAuth,
    Service,
    Slo,
    Verify,
)
from gameday.profile.traffic import (
    Assertion,
    Capture,
    CaptureField,
    Endpoint,
    Expect,
    ExpectField,
    Journey,
    Load,
    MixEntry,
    Request,
    Step,
    on_service,
)

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_RUNBOOK",
    "ENV_VAR",
    "LB_URL",
    "LOCAL_FILE",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "PLACEHOLDER_HEADS",
    "PROFILES_DIR",
    "PROJECT_ROOT",
    "REPLICA_PLACEHOLDERS",
    "REQUEST_BUILTINS",
    "Alerts",
    "Assertion",
    "BadRelease",
    "Breaker",
    "Capture",
    "CaptureField",
    "ConfigFile",
    "Database",
    "Dependency",
    "Detection",
    "Endpoint",
    "Expect",
    "ExpectField",
    "Fallback",
    "HttpMethod",
    "Journey",
    "Kubernetes",
    "KubernetesToxiproxy",
    "LabelName",
    "Load",
    "Local",
    "MetricName",
    "Metrics",
    "MetricsAuth",
    "MixEntry",
    "Name",
    "OnOutage",
    "Process",
    "Profile",
    "ProfileError",
    "Promises",
    "Readiness",
    "Release",
    "Request",
    "Service",
    "Slo",
    "Step",
    "Verify",
    "_model_of",
    "json_matches",
    "load",
    "local_strings",
    "locate",
    "missing_environment",
    "on_service",
    "schema",
    "shown_path",
]
