"""Notifications: the runbook's stakeholder notice, PagerDuty Events API v2, Slack; dry run by default."""
