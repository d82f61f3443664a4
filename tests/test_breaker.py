from threadr.breaker import CircuitBreaker


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
