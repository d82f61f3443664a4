"""The circuit breaker's two states: open at once on one failure, for everyone; closed only when
told (the watch's probe); listeners hear each change once."""

from __future__ import annotations

from threadr.storage.breaker import CircuitBreaker


def test_one_failure_opens_it_and_only_close_closes_it() -> None:
    breaker = CircuitBreaker()
    assert not breaker.is_open
    breaker.open("GET: ConnectionError('refused')")
    assert breaker.is_open and breaker.reason == "GET: ConnectionError('refused')"
    breaker.close()
    assert not breaker.is_open
    assert breaker.trips == 1


def test_listeners_hear_each_change_once() -> None:
    heard: list[bool] = []
    breaker = CircuitBreaker()
    breaker.listen(heard.append)
    breaker.open("a")
    breaker.open("b")  # already open: nothing new, and the first reason stays
    breaker.close()
    breaker.close()
    breaker.open("c")
    assert heard == [True, False, True]
    assert breaker.trips == 2 and breaker.reason == "c"
