"""The circuit breaker's states: closed, open after failures in a row, one probe per cooldown."""

from __future__ import annotations

from threadr.storage.breaker import CircuitBreaker


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


def test_a_success_resets_the_count_of_failures() -> None:
    breaker = CircuitBreaker(threshold=2)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert not breaker.is_open  # two failures, but not in a row
