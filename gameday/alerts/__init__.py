"""Alerts: gameday's Alertmanager webhook receiver, the Prometheus API client and the rules generator."""
