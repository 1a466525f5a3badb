"""``gameday`` (the console script) and ``python -m gameday``.

Ctrl-C can come at any moment, also while the CLI is still importing its libraries (a second and more on a busy
machine), before :func:`gameday.cli.main` has its handlers: it then ends with one line and exit 130, the code of
an interrupted command, never a traceback. Nothing has been changed by then: no command has started.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    """Import the CLI and run it, both under one Ctrl-C handler."""
    try:
        from gameday.cli import main as run_cli

        run_cli()
    except KeyboardInterrupt:  # only before the CLI's own handler, or in it: that one has said what it undid
        sys.stderr.write("gameday: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
