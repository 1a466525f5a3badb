"""The runbook as data: parse it, check its commands against the target (drift), and measure its coverage."""

from gameday.runbook.parse import Runbook, RunbookLine, default_runbook_path, log_patterns, parse_runbook

__all__ = ["Runbook", "RunbookLine", "default_runbook_path", "log_patterns", "parse_runbook"]
