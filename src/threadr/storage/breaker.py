"""The circuit breaker: after a few Redis failures in a row, calls skip Redis at once (and use
the in-process fallbacks) instead of each waiting for a timeout, until a probe succeeds."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed → open after `threshold` consecutive failures; after `cooldown` seconds one caller
    is let through (half-open) to probe; a success closes it again."""

    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        # How many times it has opened (or re-opened): a caller that saw one value before
        # waiting and another after knows Redis failed meanwhile (the gateway's slot queue).
        self.trips = 0

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        """True when a call to Redis should be attempted now."""
        if self._opened_at is None:
            return True
        if self._clock() - self._opened_at >= self.cooldown:
            # Half-open: let this caller probe, and push the next probe one cooldown away.
            self._opened_at = self._clock()
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self.threshold:
            self._opened_at = self._clock()
            self.trips += 1
