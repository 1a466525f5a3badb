"""Understand a runbook's kubectl command line: verb, object, namespace, selector, and whether it changes things."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from gameday.dependencies import DependencyKind, kind_for_program

# kubectl's short names for the resources a runbook uses
RESOURCES: dict[str, str] = {
    "po": "pods", "pod": "pods", "pods": "pods",
    "svc": "services", "service": "services", "services": "services",
    "ep": "endpoints", "endpoint": "endpoints", "endpoints": "endpoints",
    "deploy": "deployments", "deployment": "deployments", "deployments": "deployments",
    "deployment.apps": "deployments", "deployments.apps": "deployments",
    "ev": "events", "event": "events", "events": "events",
    "cm": "configmaps", "configmap": "configmaps", "configmaps": "configmaps",
    "rs": "replicasets", "replicaset": "replicasets", "replicasets": "replicasets",
    "ns": "namespaces", "namespace": "namespaces", "namespaces": "namespaces",
}
READ_ONLY_VERBS = {"get", "describe", "logs", "top", "explain", "version", "cluster-info", "api-resources"}
READ_ONLY_ROLLOUT = {"history", "status"}
# flags that take a value (so the next word is not the object)
_VALUE_FLAGS = {
    "-n", "--namespace", "-l", "--selector", "-o", "--output", "-c", "--container", "--sort-by", "--tail",
    "--since", "--context", "--kubeconfig", "-f", "--filename", "--field-selector", "--to-revision",
    "--bootstrap-server", "-p",
}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


class NotKubectl(ValueError):
    """The command is not a kubectl invocation."""


@dataclass
class KubectlCommand:
    """One parsed ``kubectl ...`` command line (pipes after it kept apart)."""

    text: str
    args: list[str]  # everything after ``kubectl`` and before ``--`` / a pipe
    verb: str  # get, describe, logs, rollout, exec, apply, ...
    subverb: str = ""  # rollout's: history, status, restart, undo ...
    resource: str = ""  # canonical resource (pods, services, endpoints, deployments, events ...)
    name: str = ""  # the object's name, when given
    namespace: str | None = None
    selector: str | None = None
    follow: bool = False  # logs -f
    interactive: bool = False  # exec -it
    filename: str | None = None  # apply -f FILE
    remote: list[str] = field(default_factory=list)  # exec's command after ``--``
    pipe: list[list[str]] = field(default_factory=list)  # the commands it is piped into

    @property
    def mutating(self) -> bool:
        """Whether running it would change the cluster (exec runs code in a pod, so it counts too)."""
        if self.verb == "rollout":
            return self.subverb not in READ_ONLY_ROLLOUT
        if self.verb == "auth":
            return False
        return self.verb not in READ_ONLY_VERBS

    @property
    def object_ref(self) -> str:
        """``deployment/ecommerce-backend`` style, or the resource alone."""
        return f"{self.resource}/{self.name}" if self.name else self.resource


def variables(text: str) -> list[str]:
    """The ``${VAR}`` names a command uses, in order, without repeats."""
    seen: list[str] = []
    for match in _VARIABLE.finditer(text):
        name = match.group(1) or match.group(2)
        if name not in seen:
            seen.append(name)
    return seen


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``${VAR}`` with its value; unknown variables are left as written."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(sub, text)


def split_pipeline(text: str) -> list[list[str]]:
    """Words of each command of a ``a | b`` pipeline (quotes respected)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    parts: list[list[str]] = [[]]
    for token in lexer:
        if token == "|":
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def parse_kubectl(text: str) -> KubectlCommand:
    """Parse a kubectl command line; raise NotKubectl for anything else, ValueError for bad quoting."""
    pipeline = split_pipeline(text)
    if not pipeline or pipeline[0][0].rsplit("/", 1)[-1] != "kubectl":
        raise NotKubectl(text)
    words = pipeline[0][1:]
    remote: list[str] = []
    if "--" in words:
        at = words.index("--")
        words, remote = words[:at], words[at + 1:]
    cmd = KubectlCommand(text=text, args=words, verb="", remote=remote, pipe=pipeline[1:])
    positional: list[str] = []
    is_logs = next((w for w in words if not w.startswith("-")), "") == "logs"
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, inline = word.partition("=")
        if is_logs and word in ("-f", "--follow"):
            cmd.follow = True
        elif word.startswith("-") and word != "-":
            value = inline if eq else None
            takes_value = flag in _VALUE_FLAGS and not flag.startswith("--follow")
            if not eq and takes_value and i + 1 < len(words):
                value = words[i + 1]
                i += 1
            _apply_flag(cmd, flag, value)
        else:
            positional.append(word)
        i += 1
    if not positional:
        raise ValueError(f"kubectl without a command: {text}")
    cmd.verb = positional.pop(0)
    if cmd.verb in ("rollout", "auth") and positional:
        cmd.subverb = positional.pop(0)
    if cmd.verb == "exec":
        cmd.resource, cmd.name = ("pods", positional[0]) if positional else ("pods", "")
        if "/" in cmd.name:
            kind, _, cmd.name = cmd.name.partition("/")
            cmd.resource = RESOURCES.get(kind, kind)
        return cmd
    if positional:
        first = positional.pop(0)
        if "/" in first:
            kind, _, name = first.partition("/")
            cmd.resource, cmd.name = RESOURCES.get(kind.lower(), kind.lower()), name
        elif cmd.verb == "logs":
            cmd.resource, cmd.name = "pods", first
        else:
            cmd.resource = RESOURCES.get(first.lower(), first.lower())
            if positional:
                cmd.name = positional.pop(0)
    return cmd


def _apply_flag(cmd: KubectlCommand, flag: str, value: str | None) -> None:
    if flag in ("-n", "--namespace"):
        cmd.namespace = value
    elif flag in ("-l", "--selector"):
        cmd.selector = value
    elif flag in ("-f", "--filename"):
        cmd.filename = value
    elif flag in ("--follow",):
        cmd.follow = True
    elif flag in ("-it", "-ti", "-i", "-t", "--stdin", "--tty"):
        cmd.interactive = True


def parse(text: str) -> KubectlCommand:
    """Parse a kubectl command line (alias of :func:`parse_kubectl`)."""
    return parse_kubectl(text)


def dependency_check(cmd: KubectlCommand) -> tuple[DependencyKind, str] | None:
    """The dependency kind whose check ``exec ... -- PROGRAM`` runs (``pg_isready`` → postgres, through the
    registry of kinds), with the value of its address option (``-h HOST``, ``--bootstrap-server HOST:PORT``; ""
    when not given); None when the exec runs anything else."""
    if cmd.verb != "exec" or not cmd.remote:
        return None
    kind = kind_for_program(cmd.remote[0])
    if kind is None:
        return None
    flag = kind.address_option[0]
    for i, word in enumerate(cmd.remote):
        if word == flag and i + 1 < len(cmd.remote):
            return kind, cmd.remote[i + 1]
        if word.startswith(flag + "="):
            return kind, word.split("=", 1)[1]
    return kind, ""


def read_only_args(cmd: KubectlCommand) -> list[str]:
    """The arguments to run a read-only command unattended: ``logs`` without ``-f``, nothing interactive."""
    out: list[str] = []
    skip_next = False
    for i, word in enumerate(cmd.args):
        if skip_next:
            skip_next = False
            continue
        if cmd.verb == "logs" and word in ("-f", "--follow"):
            continue
        if word in ("-it", "-ti", "-i", "-t", "--stdin", "--tty"):
            continue
        if word in ("--context", "--kubeconfig") and i + 1 < len(cmd.args):
            skip_next = True  # the checker chooses the cluster, not the runbook
            continue
        if word.startswith(("--context=", "--kubeconfig=")):
            continue
        out.append(word)
    return out
