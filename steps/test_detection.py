"""The runbook's Detection as pytest-bdd scenarios (features/service-outage/detection.feature); end-to-end, so slow."""

from __future__ import annotations

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.slow

scenarios("../features/service-outage/detection.feature")
