"""The runbook's Verification as pytest-bdd scenarios (features/verification*.feature); end-to-end, so slow."""

from __future__ import annotations

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.slow

scenarios("../features/verification.feature")
scenarios("../features/verification.zh-TW.feature")
