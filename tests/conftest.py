"""Fixtures shared by every test folder (factories live in factories.py). Everything under
integration/ is marked `integration` here: it needs a real Redis or real processes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fakeredis import FakeAsyncRedis as FakeRedis

from .factories import DATASET
from .watchdog import watchdog

__all__ = ["watchdog"]  # a fixture every test folder uses

INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRedis]:
    """A fakeredis client (Lua included) on a server of its own, for unit tests."""
    client = FakeRedis(server=fakeredis.FakeServer())
    yield client
    await client.aclose()


@pytest.fixture
def dataset() -> dict[str, Any]:
    truth = DATASET / "ground-truth.json"
    if not truth.exists():
        pytest.skip(f"the article dataset is not at {DATASET}")
    data: dict[str, Any] = json.loads(truth.read_text(encoding="utf-8"))
    return data
