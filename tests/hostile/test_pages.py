"""Every page of the hostile corpus is answered quickly and clearly, and never stalls the loop.

The whole path runs: the real fetcher (with a mock transport standing in for the site, so
that compression and headers are read by our code), the extraction pool's worker processes,
the offline writer and the cache. The watchdog fails the test if the app's event loop is
blocked for more than 100 ms at any time meanwhile.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import make_settings, running_app
from tests.watchdog import Watchdog
from threadr.articles.fetch import Fetcher

from .pages import PAGES

# What a person may get for a page: a thread, "no article here / cannot read it" (422), or
# "the site sent something broken" (502). Never a 500, never a hang.
CLEAR = {200, 422, 502}


def corpus_fetcher(settings: Any) -> Fetcher:
    """The real fetcher; `https://pages.test/<n>` answers corpus page n."""

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    def serve(request: httpx.Request) -> httpx.Response:
        _, body, headers, _ = PAGES[int(request.url.path.strip("/"))]
        return httpx.Response(200, stream=httpx.ByteStream(body), headers=headers)

    return Fetcher(settings, transport=httpx.MockTransport(serve), resolver=resolve)


async def test_every_hostile_page_gets_a_clear_answer_without_stalling(
    watchdog: Watchdog,
) -> None:
    settings = make_settings(
        RATE_LIMIT_ENABLED="false", FREE_TIER_ENABLED="false", EXTRACT_TIMEOUT_SECONDS="3"
    )
    fetcher = corpus_fetcher(settings)
    answers: dict[str, tuple[int, str]] = {}
    try:
        async with running_app(settings, fetcher=fetcher) as client:
            for n, (name, _, _, _) in enumerate(PAGES):
                response = await client.post(
                    "/api/generate", json={"url": f"https://pages.test/{n}"}, timeout=30
                )
                payload = response.json()
                answers[name] = (response.status_code, payload.get("code", ""))
                if response.status_code != 200:
                    assert isinstance(payload["detail"], str) and payload["detail"], name
    finally:
        await fetcher.aclose()
    wrong = {
        name: answers[name]
        for name, _, _, expected in PAGES
        if answers[name][0] not in expected or answers[name][0] not in CLEAR
    }
    assert not wrong, wrong
