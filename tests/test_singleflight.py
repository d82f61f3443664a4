"""Single flight: one run per key at a time, shared by every caller, surviving a cancelled one."""

import asyncio

import pytest

from threadr.singleflight import SingleFlight


async def test_concurrent_callers_share_one_run() -> None:
    flight: SingleFlight[int] = SingleFlight()
    gate, started = asyncio.Event(), asyncio.Event()
    runs = 0

    async def work() -> int:
        nonlocal runs
        runs += 1
        started.set()
        await gate.wait()
        return 42

    callers = [asyncio.create_task(flight.run("k", work)) for _ in range(20)]
    await started.wait()  # the work runs after all 20 callers asked for it
    assert len(flight) == 1
    gate.set()
    assert await asyncio.gather(*callers) == [42] * 20
    assert runs == 1
    assert len(flight) == 0


async def test_a_cancelled_caller_does_not_cancel_the_work() -> None:
    flight: SingleFlight[str] = SingleFlight()
    gate, started, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
    runs = 0

    async def work() -> str:
        nonlocal runs
        runs += 1
        started.set()
        await gate.wait()
        finished.set()
        return "done"

    first = asyncio.create_task(flight.run("k", work))
    await started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert flight.running("k")  # the work goes on without its only caller
    second = asyncio.create_task(flight.run("k", work))
    gate.set()
    assert await second == "done"
    assert finished.is_set() and runs == 1  # the second caller joined the same run


async def test_failures_reach_every_caller_and_are_not_remembered() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0

    async def boom() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("nope")

    results = await asyncio.gather(
        flight.run("k", boom), flight.run("k", boom), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    with pytest.raises(RuntimeError):
        await flight.run("k", boom)
    assert calls == 2
