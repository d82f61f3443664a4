"""Wake-ups over pub/sub on fakeredis: a message wakes its channel's listeners only; a lost
subscription wakes everyone and leaves them looking for themselves until a new one is up."""

from __future__ import annotations

from typing import Any

import fakeredis
from fakeredis import FakeAsyncRedis as FakeRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.factories import until
from threadr.storage.signals import Signals


class CuttableRedis(FakeRedis):
    """fakeredis whose subscription connections fail on a message on the channel `cut`."""

    def pubsub(self, **options: Any) -> Any:
        pubsub = super().pubsub(**options)
        receive = pubsub.get_message

        async def get_message(
            ignore_subscribe_messages: bool = False,
            timeout: float | None = 0.0,  # noqa: ASYNC109 - redis-py's signature
        ) -> Any:
            message = await receive(ignore_subscribe_messages, timeout)
            if message is not None and message["channel"] == b"cut":
                raise RedisConnectionError("Connection closed by server.")
            return message

        pubsub.get_message = get_message  # type: ignore[method-assign]
        return pubsub


async def test_a_message_wakes_the_listeners_of_its_channel_only() -> None:
    server = fakeredis.FakeServer()
    publisher = FakeRedis(server=server)
    signals = Signals(FakeRedis(server=server), timeout=2.0)
    try:
        async with signals.listen("a") as a1, signals.listen("a") as a2, signals.listen("b") as b:
            assert a1.live and a2.live and b.live
            assert await publisher.publish("a", "1") == 1  # one subscription for both
            await a1.woken.wait()
            await a2.woken.wait()
            assert not b.woken.is_set()
        assert await publisher.pubsub_numsub("a", "b") == [(b"a", 0), (b"b", 0)]
    finally:
        await signals.aclose()


async def test_a_lost_subscription_wakes_everyone_and_a_new_one_follows() -> None:
    server = fakeredis.FakeServer()
    publisher = FakeRedis(server=server)
    signals = Signals(CuttableRedis(server=server), timeout=2.0)
    try:
        async with signals.listen("a") as a, signals.listen("cut"):
            await publisher.publish("cut", "1")
            await a.woken.wait()  # woken to look for itself
            await until(lambda: not a.live)  # and from now on to look often
            async with signals.listen("b") as b:  # a new subscription for new waiters
                assert b.live
                await publisher.publish("b", "1")
                await b.woken.wait()
    finally:
        await signals.aclose()


async def test_without_a_subscription_listeners_are_not_live() -> None:
    server = fakeredis.FakeServer()
    server.connected = False  # every command fails as on a dead server
    signals = Signals(FakeRedis(server=server), timeout=2.0)
    async with signals.listen("a") as a:
        assert not a.live
    async with Signals(None, timeout=2.0).listen("a") as unconfigured:
        assert not unconfigured.live
    await signals.aclose()
