"""The journal of Stripe events already handled: one short record per event id, kept past
Stripe's retry window, so that a redelivered event is answered from it and handled once.

It is the first of two guards: every premium change is also applied once per reference (the
Stripe object's id, accounts/premium.py), so an event handled again — two deliveries at once,
a record lost with a Redis failover — still changes nothing twice."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec

from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import STRIPE_EVENT_PREFIX

log = logging.getLogger(__name__)

# Stripe retries an event for up to 3 days; a record outlives that tenfold, then expires.
EVENT_TTL_SECONDS = 30 * 86_400


class Entry(msgspec.Struct, frozen=True):
    """A handled event as stored (msgpack); fields added later get defaults."""

    type: str
    outcome: str
    at: int  # epoch ms


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Entry).decode


def event_key(event_id: str) -> str:
    return f"{STRIPE_EVENT_PREFIX}{event_id}"


class Journal:
    """Reads and writes handled events in Redis (503 when it cannot be asked)."""

    def __init__(self, gateway: Gateway, *, clock: Callable[[], float] = time.time) -> None:
        self.gateway = gateway
        self._clock = clock

    async def find(self, event_id: str) -> Entry | None:
        """The record of `event_id`, None when it was not handled (or its record expired)."""
        raw = await self.gateway.get(event_key(event_id), "stripe event lookup")
        if raw is UNAVAILABLE:
            raise self.gateway.refused("Payments need")
        if raw is None:
            return None
        try:
            return _decode(raw)
        except msgspec.DecodeError:
            return None  # unreadable: handle again (the premium references keep that safe)

    async def record(self, event_id: str, event_type: str, outcome: str) -> None:
        """Remember `event_id` as handled. Best effort: its effect is recorded already, and a
        redelivery without this record changes nothing again (the references)."""
        entry = Entry(event_type, outcome, round(self._clock() * 1000))
        done = await self.gateway.set(
            event_key(event_id), _encode(entry), EVENT_TTL_SECONDS, "stripe event record"
        )
        if done is UNAVAILABLE:
            log.warning("Stripe event %s handled but not journalled (Redis unavailable)", event_id)
