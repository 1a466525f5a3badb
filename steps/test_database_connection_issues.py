"""The Database Connection Issues runbook's Symptoms as pytest-bdd scenarios
(features/database-connection-issues/symptoms.feature); end-to-end, so slow."""

from __future__ import annotations

import pytest
from pytest_bdd import scenarios

from steps.database_connection_issues_steps import *  # noqa: F403 - pytest-bdd step definitions are fixtures

pytestmark = pytest.mark.slow

scenarios("../features/database-connection-issues/symptoms.feature")
