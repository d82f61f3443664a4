"""The circuit breaker: the process's one answer to "is Redis there?", for every store, /health,
/readiness and the metrics. The first call that finds Redis unreachable opens it, at once and for
everyone; while it is open every call takes its in-process fallback without trying Redis, and
only the watch's probe (watch.py) closes it again."""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[bool], None]  # told True when the circuit opens, False when it closes


class CircuitBreaker:
    """Closed (calls go to Redis) or open (they fall back). No half-open state and no timer:
    callers never probe; the watch does, in the background, until Redis answers."""

    def __init__(self) -> None:
        # A plain attribute, not a property: every Redis call reads it (bench/callcount.py).
        self.is_open = False
        # What opened it last (a call's failure, or the watch's PING), for the log.
        self.reason = ""
        # How many times it has opened since start.
        self.trips = 0
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Call `listener(is_open)` on every change (the gateway cuts off the calls in flight
        when it opens; the watch logs)."""
        self._listeners.append(listener)

    def open(self, reason: str) -> None:
        """Redis is unreachable: skip it from now on, everywhere. A no-op when already open."""
        if self.is_open:
            return
        self.is_open = True
        self.reason = reason
        self.trips += 1
        for listener in self._listeners:
            listener(True)

    def close(self) -> None:
        """Redis answers again (only the watch's probe says so)."""
        if not self.is_open:
            return
        self.is_open = False
        for listener in self._listeners:
            listener(False)
