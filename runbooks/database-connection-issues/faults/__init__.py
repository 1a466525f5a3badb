"""The Database Connection Issues runbook's faults: one module per fault (each registers itself), and the PostgreSQL
superuser session they act through (``postgres``)."""
