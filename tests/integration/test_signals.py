"""The waiters' wake-ups on a real Redis, with the service's client options: a subscription
whose connection is killed still wakes its waiters, and new waiters are heard."""

from __future__ import annotations

from redis.asyncio import Redis

from tests.factories import TEST_REDIS_URL, make_settings, until
from threadr.storage.client import redis_options
from threadr.storage.signals import Signals

NAME = "threadr-signals-test"


async def test_a_killed_subscription_still_wakes_its_waiters(redis: Redis) -> None:
    options = redis_options(make_settings(REDIS_URL=TEST_REDIS_URL)) | {"client_name": NAME}
    client = Redis.from_url(TEST_REDIS_URL, **options)
    signals = Signals(client, timeout=2.0)
    try:
        async with signals.listen("threadr:test:a") as listener:
            assert listener.live
            (ours,) = [
                c["id"] for c in await redis.client_list(_type="pubsub") if c.get("name") == NAME
            ]
            await redis.client_kill_filter(_id=ours)

            async def woken() -> bool:
                # By the failure (then it looks for itself), or by a message on the connection
                # redis-py's retry opened and subscribed again.
                await redis.publish("threadr:test:a", "1")
                return listener.woken.is_set()

            await until(woken)
        async with signals.listen("threadr:test:b") as again:
            assert again.live
            await redis.publish("threadr:test:b", "1")
            await until(again.woken.is_set)
    finally:
        await signals.aclose()
        await client.aclose()
