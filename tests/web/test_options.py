"""GET /api/options, and the options of POST /api/generate: validated with clear 422s, part of
the cache key, honoured, and the response's sources and warnings."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis

from tests.factories import MockOpenAI, make_settings, running_app, running_services, until
from tests.writing.replies import ARTICLE, content, reply, stream_of
from threadr.cache import key_for
from threadr.source import validate
from threadr.writing.options import DEFAULT_OPTIONS, catalogue, parse_options
from threadr.writing.thread import Tweet

OPEN = make_settings(RATE_LIMIT_ENABLED="false", FREE_TIER_ENABLED="false")


async def test_get_options_lists_every_option_with_its_default() -> None:
    async with running_app(OPEN) as client:
        response = await client.get("/api/options")
        openapi = (await client.get("/openapi.json")).json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    options = response.json()["options"]
    assert [o["name"] for o in options] == [spec.name for spec in catalogue()]
    by_name = {o["name"]: o for o in options}
    assert by_name["length"]["values"] == ["auto", "short", "medium", "long"]
    assert by_name["tweets"] | {"description": ""} == {
        "name": "tweets", "type": "integer", "default": None, "minimum": 2, "maximum": 25,
        "nullable": True, "description": "",
    }  # fmt: skip
    assert by_name["emoji"]["default"] is True and by_name["hashtags"]["default"] == 0
    assert "/api/options" in openapi["paths"]
    body = openapi["paths"]["/api/generate"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/GenerateRequest")
    request = openapi["components"]["schemas"]["GenerateRequest"]["properties"]["options"]
    documented = next(s for s in request["anyOf"] if s.get("type") == "object")
    assert set(documented["properties"]) == set(by_name)
    assert documented["properties"]["tone"]["enum"] == by_name["tone"]["values"]


async def test_a_bad_option_is_a_422_that_names_it_before_anything_is_counted() -> None:
    async with running_app(make_settings()) as client:
        cases: dict[str, Any] = {
            "tone": {"tone": "angry"},
            "lenght": {"lenght": "short"},
            "tweets": {"tweets": 40},
            "language": {"language": "klingon-ish"},
            "options": [1, 2],
        }
        for name, options in cases.items():
            response = await client.post(
                "/api/generate", json={"text": ARTICLE, "options": options}
            )
            assert response.status_code == 422, response.text
            body = response.json()
            assert body["code"] in {"invalid_options", "validation_error"}
            assert name in body["detail"]
            assert "ratelimit" not in response.headers  # refused before the limiter
        nested = {"text": ARTICLE, "options": {"tone": [[["deep"]]]}}
        assert (await client.post("/api/generate", json=nested)).status_code == 422


async def test_the_same_options_hit_the_cache_and_other_options_miss() -> None:
    redis = fakeredis.FakeAsyncRedis()
    async with running_services(OPEN, redis=redis) as (client, _):

        async def generate(options: Any) -> Any:
            body = {"text": ARTICLE} if options is None else {"text": ARTICLE, "options": options}
            return await client.post("/api/generate", json=body)

        plain = await generate(None)
        defaults = await generate({"tone": "neutral", "numbering": "1/n"})  # the defaults, named
        short = await generate({"length": "short", "tone": "witty"})
        again = await generate({"tone": "witty", "length": "short"})  # same options, reordered
        other = await generate({"length": "short", "tone": "casual"})
        assert [r.headers["x-cache"] for r in (plain, defaults, short, again, other)] == [
            "MISS", "HIT", "MISS", "HIT", "MISS",
        ]  # fmt: skip
        assert again.json()["thread"] == short.json()["thread"]
        assert short.json()["thread"] != plain.json()["thread"]
    source = validate(None, ARTICLE, OPEN)
    assert key_for(source) == key_for(source, DEFAULT_OPTIONS)  # old entries stay valid
    witty = parse_options({"length": "short", "tone": "witty"})
    assert key_for(source, witty) != key_for(source)
    assert await redis.exists(key_for(source), key_for(source, witty)) == 2


async def test_the_response_carries_sources_warnings_and_honours_the_options() -> None:
    async with running_app(OPEN) as client:
        response = await client.post(
            "/api/generate",
            json={"text": ARTICLE, "options": {"numbering": "(1/n)", "numbering_position": "end",
                                               "emoji": False, "hashtags": 1, "language": "de"}},
        )  # fmt: skip
    body = response.json()
    assert response.status_code == 200, body
    thread = body["thread"]
    n = len(thread)
    assert all(t["content"].endswith(f" ({t['number']}/{n})") for t in thread)
    assert thread[-1]["content"].count("#") == 1 and "🧵" not in thread[0]["content"]
    for tweet in thread:
        if tweet["source"] is not None:
            assert ARTICLE[tweet["source"]["start"] : tweet["source"]["end"]] in tweet["content"]
    assert {"tweet": None, "kind": "language_unavailable", "value": "de"} in body["warnings"]


async def test_model_claims_the_article_lacks_are_warned_about_in_the_response() -> None:
    mock = MockOpenAI(reply("Light rail is coming.", "Ridership will grow 42% a year."))
    async with running_app(OPEN, openai_client=mock.client()) as client:
        body = (await client.post("/api/generate", json={"text": ARTICLE})).json()
    assert body["generator"] == "openai"
    assert body["warnings"] == [{"tweet": 2, "kind": "unsupported_number", "value": "42%"}]
    assert [t["source"] for t in body["thread"]] == [None, None]


async def test_a_request_that_joins_a_generation_hears_the_tweets_told_before_it() -> None:
    text = content("Light rail is coming.", "It costs $1.2 billion.", "Stay tuned.")
    gate = asyncio.Event()
    first: list[Tweet] = []

    async def pause(event: int) -> None:
        if event * 20 > text.index("}") + 20:  # tweet 1 is complete, and told
            await gate.wait()

    mock = MockOpenAI(stream_of(text, pause=pause))
    async with running_services(OPEN, openai_client=mock.client()) as (_, services):
        source = validate(None, ARTICLE, OPEN)
        second: list[Tweet] = []
        starter = asyncio.create_task(services.pipeline.generate(source, on_tweet=first.append))
        await until(lambda: len(first) == 1)
        joiner = asyncio.create_task(services.pipeline.generate(source, on_tweet=second.append))
        await until(lambda: len(second) == 1)  # tweet 1, told before it joined, replayed
        gate.set()
        entry, joined = await starter, await joiner
    assert entry == joined and mock.calls == 1
    assert first == second == entry.thread and len(first) == 3


async def test_the_admin_forgets_the_entry_of_the_options_named() -> None:
    settings = make_settings(
        RATE_LIMIT_ENABLED="false", FREE_TIER_ENABLED="false", API_KEYS="k" * 16
    )
    admin = {"X-API-Key": "k" * 16}
    async with running_app(settings) as client:
        short = {"text": ARTICLE, "options": {"length": "short"}}
        await client.post("/api/generate", json={"text": ARTICLE})
        await client.post("/api/generate", json=short)
        removed = await client.request("DELETE", "/api/cache", json=short, headers=admin)
        assert removed.json()["removed"] is True
        assert (await client.post("/api/generate", json=short)).headers["x-cache"] == "MISS"
        plain = await client.post("/api/generate", json={"text": ARTICLE})
        assert plain.headers["x-cache"] == "HIT"  # the defaults' entry is another
        bad = {"text": ARTICLE, "options": {"length": "huge"}}
        refused = await client.request("DELETE", "/api/cache", json=bad, headers=admin)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_options"
