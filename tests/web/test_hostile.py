"""Hostile input: whatever a client sends, the answer is a clear 4xx (or a thread), never a 500."""

from typing import Any

import httpx
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_settings, running_app
from threadr.articles.fetch import Fetcher

PAGE = b"<html><head><title>T</title></head><body><article>" + b"<p>Word salad. </p>" * 80
CLIENT_ERRORS = {400, 403, 413, 415, 422}


def fake_fetcher() -> Fetcher:
    """The real fetcher and its vetting, with a fixed public address and a canned page."""

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    def page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            stream=httpx.ByteStream(PAGE + b"</article></body></html>"),
            headers={"content-type": "text/html; charset=utf-8"},
        )

    return Fetcher(make_settings(), transport=httpx.MockTransport(page), resolver=resolve)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda v: msgspec.json.encode(v), json_values),
    st.builds(lambda t: msgspec.json.encode({"text": t}), st.text(max_size=400)),
    st.builds(lambda u: msgspec.json.encode({"url": u}), st.text(max_size=120)),
    st.builds(lambda u: msgspec.json.encode({"url": "https://" + u}), st.text(max_size=60)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
async def test_no_body_causes_a_server_error(body: bytes) -> None:
    config = make_settings(RATE_LIMIT_ENABLED="false", FREE_TIER_ENABLED="false")
    fetcher = fake_fetcher()
    try:
        async with running_app(config, fetcher=fetcher) as client:
            response = await client.post(
                "/api/generate", content=body, headers={"content-type": "application/json"}
            )
    finally:
        await fetcher.aclose()
    assert response.status_code == 200 or response.status_code in CLIENT_ERRORS, response.text
    payload: dict[str, Any] = response.json()
    if response.status_code != 200:
        assert isinstance(payload["detail"], str) and payload["detail"]
        assert isinstance(payload["code"], str)
