"""The runbook's Verification as pytest-bdd scenarios (features/service-outage/verification*.feature); end-to-end,
so slow."""

from __future__ import annotations

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.slow

scenarios("../features/service-outage/verification.feature")
scenarios("../features/service-outage/verification.zh-TW.feature")
