"""deadline.Deadlines: one timer for many calls, with asyncio.timeout's semantics."""

import asyncio
import time

import pytest

from tests.factories import until
from threadr.storage.deadline import Deadlines


async def answer(value: str, after: float = 0.0) -> str:
    await asyncio.sleep(after)
    return value


async def test_a_call_past_its_deadline_is_a_timeout() -> None:
    deadlines = Deadlines(0.2, tick=0.05)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await deadlines.run(answer("late", after=5))
    assert 0.2 <= time.monotonic() - started < 2  # never early; late by a tick, not a hang
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # our cancel was taken back


async def test_only_the_slow_calls_of_many_time_out() -> None:
    deadlines = Deadlines(0.2, tick=0.02)
    calls = [deadlines.run(answer(str(i), after=0.5 if i % 3 == 0 else 0.01)) for i in range(30)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for i, result in enumerate(results):
        if i % 3 == 0:
            assert isinstance(result, TimeoutError)
        else:
            assert result == str(i)


async def test_the_timer_is_disarmed_when_nothing_is_in_flight() -> None:
    deadlines = Deadlines(1.0, tick=0.01)
    assert await deadlines.run(answer("x")) == "x"
    assert not deadlines._due
    await until(lambda: deadlines._timer is None)  # at its next tick, with nothing to watch


async def test_someone_elses_cancel_stays_a_cancel() -> None:
    deadlines = Deadlines(5.0, tick=0.01)
    task = asyncio.create_task(deadlines.run(answer("never", after=5)))
    await until(lambda: bool(deadlines._due))  # the call is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._due


async def test_a_cancel_that_coincides_with_the_deadline_is_not_swallowed() -> None:
    """We and a caller cancel at once: the caller's cancel wins, as with asyncio.timeout."""

    class Coinciding(Deadlines):
        def _check(self) -> None:
            before = set(self._expired)
            super()._check()
            for task in self._expired - before:
                task.cancel()  # someone else's cancel, in the same loop iteration

    deadlines = Coinciding(0.05, tick=0.01)
    task = asyncio.create_task(deadlines.run(answer("never", after=5)))
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outer_timeout_is_the_outer_ones() -> None:
    deadlines = Deadlines(5.0, tick=0.01)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05) as outer:
            await deadlines.run(answer("never", after=5))
    assert outer.expired()


def test_one_instance_serves_successive_event_loops() -> None:
    deadlines = Deadlines(0.1, tick=0.02)

    async def late() -> None:
        with pytest.raises(TimeoutError):
            await deadlines.run(answer("late", after=5))

    asyncio.run(late())
    asyncio.run(late())  # the first loop's timer is gone with it; a new one is armed


def test_a_call_stranded_by_a_closed_loop_does_not_stop_the_next_loops_deadlines() -> None:
    deadlines = Deadlines(0.1, tick=0.02)
    first = asyncio.new_event_loop()
    stranded = first.create_task(deadlines.run(answer("never", after=60)))
    first.run_until_complete(asyncio.sleep(0.01))
    first.close()  # without finishing `stranded`: its entry stays behind
    assert not stranded.done()

    async def late() -> None:
        with pytest.raises(TimeoutError):
            await deadlines.run(answer("late", after=5))

    asyncio.run(late())
