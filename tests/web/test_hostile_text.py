"""Hostile texts over HTTP: a body built to make normalising quadratic gets a quick answer."""

import msgspec
import pytest

from tests.factories import make_settings, running_app
from tests.watchdog import Watchdog

LIMIT = 65_536  # MAX_BODY_BYTES' default


def text_of(head: str, run: str, tail: str, size: int = LIMIT) -> str:
    """`head + run * n + tail`, n as large as fits in a JSON body of `size` bytes."""
    frame = len(msgspec.json.encode({"text": head + tail}))
    return head + run * ((size - frame) // len(msgspec.json.encode(run)[1:-1])) + tail


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (text_of("", " ", "x \n"), "text_too_long"),  # ~65,500 characters: over the raw cap
        (text_of("e", "\u0301\u0316", ""), "too_many_marks"),  # mark classes alternating
        (text_of("a", "\u0f73", ""), "too_many_marks"),  # each decomposes into two classes
    ],
    ids=["space-run", "mark-run", "tibetan-run"],
)
async def test_a_body_built_to_be_quadratic_is_refused_quickly(
    text: str, code: str, watchdog: Watchdog
) -> None:
    body = msgspec.json.encode({"text": text})
    assert LIMIT - 8 < len(body) <= LIMIT
    async with running_app(make_settings()) as client:
        response = await client.post(
            "/api/generate", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert "ratelimit" not in response.headers  # refused before the limiter


async def test_a_space_run_under_the_raw_cap_is_normalised_quickly(watchdog: Watchdog) -> None:
    body = msgspec.json.encode({"text": "\t" * 30_000 + "Short. \n"})
    async with running_app(make_settings()) as client:
        response = await client.post(
            "/api/generate", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 200, response.text  # the text is "Short."
