"""pytest-bdd step definitions of the runbook features (features/); collected through steps/conftest.py."""
