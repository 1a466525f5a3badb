"""``python -m gameday.alerts_cli write|check``: regenerate the alerting rules generated under deploy/monitoring, or
check that they are up to date (exit 1 when any is stale).

The rules (:mod:`gameday.alerts.rules`) link to the runbook the profile follows; looking that runbook package up
belongs up here, so the rules stay below the targets that render them at ``up``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gameday.alerts.rules import generated_files
from gameday.profile import DEFAULT_PROFILE
from gameday.profile import load as load_profile
from gameday.runbook.package import find


def main(argv: list[str] | None = None) -> int:
    """``write`` the generated files, or ``check`` that they are up to date."""
    parser = argparse.ArgumentParser(prog="python -m gameday.alerts_cli", description=__doc__)
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE, help="the service (default: the reference)")
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    stale = []
    for path, text in generated_files(profile, find(profile.runbook).alert_link()).items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.action == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
        else:
            stale.append(path)
    for path in stale:
        print(f"stale: {path} (run python -m gameday.alerts_cli write)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
