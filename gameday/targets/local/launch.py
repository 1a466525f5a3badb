"""Run one replica as its spec says: ``python launch.py SPEC``; supervisor runs this as the replica's program.

The spec (command, environment, working directory) is rendered by :mod:`gameday.targets.local.service` at every
(re)start, so a release that changes the command or the environment takes effect at the replica's next start
without touching supervisor's configuration. The launcher replaces itself with the command (same pid, same process
group), so signals, readiness and logs are the service's own. It is run as a file, not a module: importing no
package keeps the start as fast as the service's own.
"""

import json
import os
import sys


def main(argv: list[str]) -> int:
    """Exec the replica; one line on stderr and exit 127 when the spec or the command is missing."""
    if len(argv) != 2:
        print("usage: launch.py SPEC", file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as fh:
            spec = json.load(fh)
        os.chdir(spec["directory"])
        env = {**os.environ, **spec["environment"]}
        os.execvpe(spec["command"][0], spec["command"], env)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        print(f"gameday launcher: cannot start {argv[1]}: {exc}", file=sys.stderr, flush=True)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
