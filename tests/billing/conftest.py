"""The `rig` fixture of the webhook tests (tests/billing/rig.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest

from tests.billing.rig import Rig, SwitchableRedis, built


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with built(SwitchableRedis(server=fakeredis.FakeServer())) as made:
        yield made
