"""Every body of the hostile corpus gets its clear status at once, and never stalls the loop."""

from __future__ import annotations

import pytest

from tests.factories import make_settings, running_app
from tests.watchdog import Watchdog

from .bodies import BODIES


@pytest.mark.parametrize(("name", "body", "status", "code"), BODIES, ids=[b[0] for b in BODIES])
async def test_a_hostile_body_gets_its_clear_answer(
    name: str, body: bytes, status: int, code: str, watchdog: Watchdog
) -> None:
    settings = make_settings(RATE_LIMIT_ENABLED="false", FREE_TIER_ENABLED="false")
    async with running_app(settings) as client:
        response = await client.post(
            "/api/generate", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == status, response.text[:300]
    payload = response.json()
    if status != 200:
        assert payload["code"] == code
        # One sentence a person can read, never the client's 60 KB echoed back.
        assert 10 < len(payload["detail"]) <= 300
