"""Event reasons: the REASON column of ``kubectl get events``, as both targets record them and the diagnosis reads them.

The targets record what gameday did (a replica killed, a dependency stopped) and what they saw happen (a process
exiting, a crash loop); the diagnosis rules decide from these reasons, never from the message, which stays
free text for people. Where Kubernetes has a word for it (``BackOff``, ``Killing``, ``ScalingReplicaSet``) the
local target uses the same one, so a rule holds on both targets.
"""

from __future__ import annotations

from typing import Final

# --- what gameday did to the service's replicas -------------------------------------------------------
# a replica killed from outside: SIGKILL, a pod deleted with no grace period (also a process seen dying of a
# SIGKILL nobody expected). Not Kubernetes' "Killing", which every rollout records for the pods it stops.
KILLED: Final = "Killed"
FROZEN: Final = "Frozen"  # a replica made to hang (SIGSTOP, ingress denied)
THAWED: Final = "Thawed"  # ... and released

# --- rollouts and configuration ----------------------------------------------------------------------
SCALING_REPLICA_SET: Final = "ScalingReplicaSet"  # a rollout (re)started replicas
PROGRESS_DEADLINE_EXCEEDED: Final = "ProgressDeadlineExceeded"  # the local rollout did not get ready in time
ROLLOUT_NOT_COMPLETE: Final = "RolloutNotComplete"  # the Kubernetes rollout did not get ready in time
DEPLOYMENT_ROLLBACK: Final = "DeploymentRollback"
ROLLBACK_SKIPPED: Final = "RollbackSkipped"  # already at the revision asked for
CONFIG_CHANGED: Final = "ConfigChanged"  # the live configuration (the ConfigMap) changed

# --- what gameday did to a dependency -----------------------------------------------------------------
DEPENDENCY_STOPPED: Final = "DependencyStopped"
DEPENDENCY_STARTED: Final = "DependencyStarted"
DEPENDENCY_HUNG: Final = "DependencyHung"
DEPENDENCY_RELEASED: Final = "DependencyReleased"
DEPENDENCY_UNREACHABLE: Final = "DependencyUnreachable"  # an external dependency did not answer at ``up``

# --- process and container lifecycle (supervisor's log on the local target, the kubelet on a cluster) ----
STARTED: Final = "Started"
EXITED: Final = "Exited"  # stopped as asked
KILLING: Final = "Killing"  # stopping a container or process on purpose (a rollout, a scale-down)
BACK_OFF: Final = "BackOff"  # exited unexpectedly, restarting after a back-off
CRASH_LOOP_BACK_OFF: Final = "CrashLoopBackOff"  # gave up restarting it (the local target)
UNHEALTHY: Final = "Unhealthy"  # the kubelet: a probe failed ("Readiness probe failed: ... deadline exceeded")
