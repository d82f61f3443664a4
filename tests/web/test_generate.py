"""POST /api/generate in-process (memory or fakeredis): threads, hits, bad bodies, Redis down."""

import asyncio
from typing import Any

import fakeredis
import httpx
import pytest

from tests.factories import MockOpenAI, make_settings, running_app, tweets_reply
from threadr.articles.fetch import Fetcher

ARTICLE = (
    "Caching is the art of remembering answers. A cache keeps the result of expensive work so "
    "the next request gets it at once. Good caches expire entries, bound their memory and never "
    "serve one user's data to another. "
) * 4


async def test_text_generates_a_numbered_thread_then_hits_the_cache() -> None:
    async with running_app(make_settings()) as client:
        first = await client.post("/api/generate", json={"text": ARTICLE})
        assert first.status_code == 200, first.text
        assert first.headers["x-cache"] == "MISS"
        body = first.json()
        assert body["success"] is True and body["error"] is None
        assert body["cached"] is False and body["generator"] == "offline"
        assert body["source_type"] == "text"
        n = len(body["thread"])
        assert n >= 2
        for i, tweet in enumerate(body["thread"], 1):
            assert tweet["content"].startswith(f"{i}/{n} ")
            assert (tweet["number"], tweet["total"]) == (i, n)
            assert tweet["character_count"] <= 280

        second = await client.post("/api/generate", json={"text": "  " + ARTICLE + "\n"})
        assert second.headers["x-cache"] == "HIT"
        assert second.json()["cached"] is True
        assert second.json()["thread"] == body["thread"]


async def test_a_hit_never_calls_openai_again() -> None:
    mock = MockOpenAI(tweets_reply("Hook.", "Point.", "End."))
    redis = fakeredis.FakeAsyncRedis()
    async with running_app(make_settings(), openai_client=mock.client(), redis=redis) as client:
        first = await client.post("/api/generate", json={"text": ARTICLE})
        assert first.json()["generator"] == "openai"
        second = await client.post("/api/generate", json={"text": ARTICLE})
        assert second.json()["cached"] is True
    assert mock.calls == 1
    assert len(await redis.keys("threadr:cache:v1:text:*")) == 1
    await redis.aclose()


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"not json"}, 400, "invalid_json"),
        ({"content": b"[1, 2]"}, 400, "not_an_object"),
        ({"content": b'"text"'}, 400, "not_an_object"),
        ({"content": b'{"text": "a\\ud800"}'}, 400, "invalid_json"),
        ({"json": {"text": "x", "extra": 1}}, 422, "validation_error"),
        ({"json": {"text": 5}}, 422, "validation_error"),
        ({"json": {}}, 422, "url_or_text"),
        ({"json": {"text": "hi", "url": "https://example.com"}}, 422, "url_or_text"),
        ({"json": {"text": "   \n\t "}}, 422, "empty_text"),
        ({"json": {"text": "x" * 10_001}}, 422, "text_too_long"),
        ({"json": {"url": "not a url"}}, 422, "invalid_url"),
        ({"json": {"url": "https://example.com/" + "a" * 3000}}, 422, "invalid_url"),
        ({"json": {"url": "ftp://example.com/file"}}, 403, "url_scheme"),
        ({"json": {"url": "https://user:pw@example.com/a"}}, 403, "url_userinfo"),
        ({"json": {"url": "http://example.com@127.0.0.1/"}}, 403, "url_userinfo"),
        ({"json": {"url": "javascript:alert(1)"}}, 422, "invalid_url"),
    ],
)
async def test_bad_bodies_get_clear_4xx(kwargs: dict[str, Any], status: int, code: str) -> None:
    headers = {"content-type": "application/json"}
    async with running_app(make_settings()) as client:
        response = await client.post("/api/generate", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"].endswith(".")


async def test_text_limit_is_stated() -> None:
    async with running_app(make_settings(MAX_CONTENT_LENGTH="500")) as client:
        response = await client.post("/api/generate", json={"text": "y " * 400})
    assert response.status_code == 422
    assert "500" in response.json()["detail"]


async def test_wrong_media_type_is_415() -> None:
    async with running_app(make_settings()) as client:
        response = await client.post(
            "/api/generate",
            content=b"text=hi",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        missing = await client.post("/api/generate", content=b'{"text": "hi"}')
    assert response.status_code == 415 and missing.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_oversized_body_is_413_by_declared_length_and_while_streaming() -> None:
    big = b'{"text": "' + b"a" * 70_000 + b'"}'
    async with running_app(make_settings()) as client:
        declared = await client.post(
            "/api/generate", content=big, headers={"content-type": "application/json"}
        )

        async def chunks() -> Any:  # no Content-Length: counted while reading
            for i in range(0, len(big), 8192):
                yield big[i : i + 8192]

        streamed = await client.post(
            "/api/generate", content=chunks(), headers={"content-type": "application/json"}
        )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"


async def test_redis_down_degrades_but_keeps_serving() -> None:
    settings = make_settings(
        REDIS_URL="redis://127.0.0.1:1/0", REDIS_TIMEOUT_SECONDS="0.2", OPENAI_API_KEY="sk-test"
    )
    async with running_app(
        settings, openai_client=MockOpenAI(tweets_reply("A.", "B.")).client()
    ) as client:
        health = (await client.get("/health")).json()
        assert health == {
            "status": "degraded",
            "version": health["version"],
            "services": {"redis": "disconnected", "openai": "configured"},
        }
        ready = await client.get("/readiness")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        first = await client.post("/api/generate", json={"text": ARTICLE})
        second = await client.post("/api/generate", json={"text": ARTICLE})
    assert first.status_code == 200
    assert second.json()["cached"] is True  # the in-memory fallback cache


async def test_url_generation_uses_the_fetcher_and_extractor() -> None:
    page = (
        "<html><head><title>Caching 101 | Blog</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/about'>About us</a></nav>"
        "<article><h1>Caching 101</h1>"
        + "".join(f"<p>{s}</p>" for s in ARTICLE.split(". "))
        + "</article><footer>Copyright</footer></body></html>"
    ).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, stream=httpx.ByteStream(page), headers={"content-type": "text/html"}
        )

    settings = make_settings(FETCH_ALLOW_PRIVATE_NETWORKS="true")

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    fetcher = Fetcher(settings, transport=httpx.MockTransport(handler), resolver=resolve)
    async with running_app(settings, fetcher=fetcher) as client:
        response = await client.post(
            "/api/generate", json={"url": "https://blog.example/c?utm_source=x"}
        )
        again = await client.post("/api/generate", json={"url": "https://BLOG.example/c#top"})
    await fetcher.aclose()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source_type"] == "url"
    assert body["title"] == "Caching 101"
    joined = " ".join(t["content"] for t in body["thread"])
    assert "expensive work" in joined and "About us" not in joined
    assert again.json()["cached"] is True


async def test_a_redis_that_never_answers_costs_a_timeout_not_a_hang() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept and read, never reply
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = make_settings(REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT_SECONDS="0.2")
    try:
        async with asyncio.timeout(10), running_app(settings) as client:
            health = (await client.get("/health")).json()
            first = await client.post("/api/generate", json={"text": ARTICLE})
            second = await client.post("/api/generate", json={"text": ARTICLE})
    finally:
        server.close()
    assert health["services"]["redis"] == "disconnected"
    assert first.status_code == 200 and second.json()["cached"] is True
