"""The limiter script's arithmetic in process: the fallback while Redis is down, and the whole
limiter without Redis (per process, so N instances admit up to N times the limits)."""

from __future__ import annotations

from collections.abc import Sequence


class MemoryWindow:
    """GCRA state per key in a bounded dict; same inputs and output as storage/lua/ratelimit.lua."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._tats: dict[bytes, int] = {}

    def apply(
        self, keys: Sequence[bytes], specs: Sequence[tuple[int, int]], now: int, consume: bool
    ) -> list[int]:
        """`specs` are (interval µs, limit) per key; see the script's comments for the output."""
        tats = [max(self._tats.get(key, now), now) for key in keys]
        allowed = all(
            tat - now + interval <= limit * interval
            for tat, (interval, limit) in zip(tats, specs, strict=True)
        )
        out = [int(allowed)]
        for key, (interval, limit), tat in zip(keys, specs, tats, strict=True):
            if allowed and consume:
                tat += interval
                self._tats[key] = tat
            debt = tat - now
            used = -(-debt // interval)
            nxt = debt - (min(used, limit) - 1) * interval if used > 0 else 0
            out += (max(limit - used, 0), nxt, debt)
        if len(self._tats) > self.max_keys:
            # Paid-off entries say nothing; past that, forget the oldest. Forgetting can only let
            # a request through, never wrongly deny one.
            self._tats = {k: t for k, t in self._tats.items() if t > now}
            while len(self._tats) > self.max_keys * 9 // 10:
                del self._tats[next(iter(self._tats))]
        return out
