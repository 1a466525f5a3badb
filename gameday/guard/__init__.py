"""Guardrails for shared environments: stop conditions, the emergency halt, one game day at a time, dry runs."""
