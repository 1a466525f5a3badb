"""Run one replica as its spec says: ``python launch.py SPEC``; supervisor runs this as the replica's program.

The spec (command, environment, working directory) is rendered by :mod:`gameday.targets.local.service` at every
(re)start, so a release that changes the command or the environment takes effect at the replica's next start
without touching supervisor's configuration. The launcher replaces itself with the command (same pid, same process
group), so signals, readiness and logs are the service's own; only a release made to fail
(``local.bad_release.fail_after_ready_s``) runs it as a child instead (:mod:`.failing`). It is run as a file, not a
module: importing no package keeps the start as fast as the service's own.
"""

import importlib.util
import json
import os
import sys
import types


def main(argv: list[str]) -> int:
    """Exec the replica; one line on stderr and exit 127 when the spec or the command is missing."""
    if len(argv) != 2:
        print("usage: launch.py SPEC", file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as fh:
            spec = json.load(fh)
        os.chdir(spec["directory"])
        if spec.get("shown"):  # the rendered command, secrets masked: the log says what this start ran
            # (diagnose/evidence.py's LAUNCHER_ECHO: the diagnosis leaves this line out)
            print(f"gameday launcher: $ {spec['shown']}", file=sys.stderr, flush=True)
        env = {**os.environ, **spec["environment"]}
        if spec.get("fail_after_ready_s"):  # local.bad_release.fail_after_ready_s: the good release, made to fail
            return _failing().run(spec["command"], env, spec["ready_url"], float(spec["fail_after_ready_s"]))
        os.execvpe(spec["command"][0], spec["command"], env)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        print(f"gameday launcher: cannot start {argv[1]}: {exc}", file=sys.stderr, flush=True)
    return 127


def _failing() -> types.ModuleType:
    """:mod:`.failing`, loaded by its path (this file imports no package, and is run with ``-I``)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "failing.py")
    found = importlib.util.spec_from_file_location("gameday_failing_release", path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(main(sys.argv))
