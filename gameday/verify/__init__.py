"""Verification: verdicts (pure), the runbook's checklist against a target, and the post-deploy smoke."""
