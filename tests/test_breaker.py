import asyncio
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from threadr.breaker import UNAVAILABLE, CircuitBreaker, Slots


def test_opens_after_threshold_and_probes_after_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=5, clock=lambda: now[0])
    assert breaker.allow()
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.is_open and not breaker.allow()
    now[0] = 5.0
    assert breaker.allow()  # one probe
    assert not breaker.allow()  # the others keep skipping
    breaker.success()
    assert breaker.allow() and not breaker.is_open


async def test_slots_bound_concurrency_and_hand_over_in_order() -> None:
    slots = Slots(2)
    await slots.acquire()
    await slots.acquire()
    order: list[int] = []

    async def waiter(i: int) -> None:
        await slots.acquire()
        order.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert order == [] and slots.free == 0
    tasks[0].cancel()  # a cancelled waiter never takes a slot
    slots.release()
    slots.release()
    await asyncio.gather(*tasks[1:])
    assert order == [1, 2] and slots.free == 0
    slots.release()
    slots.release()
    assert slots.free == 2


async def test_a_full_pool_falls_back_without_opening_the_breaker() -> None:
    """MaxConnectionsError is our shortage, not Redis failing: nothing counts towards opening."""
    breaker = CircuitBreaker(threshold=1)

    async def full(_: object) -> None:
        raise MaxConnectionsError("Too many connections")

    async def fails(_: object) -> None:
        raise RedisConnectionError("connection refused")

    redis: Any = object()  # only passed through to the functions above
    assert await breaker.call(redis, full, "test") is UNAVAILABLE
    assert not breaker.is_open
    assert await breaker.call(redis, fails, "test") is UNAVAILABLE
    assert breaker.is_open
