"""Links from Stripe's ids to the premium grant a payment made, so that a refund or a cancelled
subscription takes back that grant — found by the ids its event carries (the charge's payment
intent, an invoice, the subscription), never by an email typed at payment, which may be anyone's.

A grant links every id of its payment once (SET NX) before it is applied; a subscription's id
follows its latest period's grant. A refund or a cancellation that finds no link (its event came
first: Stripe does not keep their order) leaves a tombstone under its ids, and a grant that then
finds one applies nothing. Both sides claim a key with SET NX before they act, so whichever comes
second sees the first: a grant meeting a tombstone stops, a revoke meeting a link takes the grant
back — or, when the grant is not applied yet, marks its reference so that it never is
(accounts/premium.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgspec

from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import STRIPE_LINK_PREFIX

log = logging.getLogger(__name__)

# A refund may come months after its payment, and a yearly subscription is cancelled up to a
# year after its latest period was granted: 400 days covers both, then the link expires.
LINK_TTL_SECONDS = 400 * 86_400


class Link(msgspec.Struct, frozen=True, omit_defaults=True):
    """A grant as stored (msgpack) under each id of its payment; fields added later get
    defaults. A tombstone has no holder and names what came first in `revoked_by`."""

    holder: str = ""  # accounts/premium.py: u:<account id>, or e:<email hash>
    reference: str = ""  # the grant's reference: stripe:<cs_…>, stripe:<in_…>
    # A grant held for an email with no account yet keeps the email, so that its revoke follows
    # it to the account that has claimed it since.
    email: str | None = None
    period_end: int = 0  # epoch s: which of a subscription's grants is its latest
    revoked_by: str | None = None

    @property
    def tombstone(self) -> bool:
        return self.revoked_by is not None


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Link).decode


def link_key(stripe_id: str) -> str:
    return f"{STRIPE_LINK_PREFIX}{stripe_id}"


def _read(raw: Any) -> Link | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return _decode(raw)
    except msgspec.DecodeError:
        log.error("A Stripe link in Redis cannot be read; treating it as absent")
        return None


class Links:
    """Reads and writes links in Redis; ServiceUnavailable (503) when it cannot, so that
    Stripe retries the event."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def bind(
        self, ids: Iterable[str], link: Link, *, subscription: str | None = None
    ) -> Link | None:
        """Link each of `ids` to `link` where no link is yet (a retry finds its own), and
        `subscription` to it unless that already follows a later period; the tombstone found
        instead, if any — then the grant must not apply."""
        keys = [link_key(i) for i in dict.fromkeys(ids)]
        sub_key = link_key(subscription) if subscription else None
        value = _encode(link)

        async def send(redis: Any) -> list[Any]:
            pipe = redis.pipeline(transaction=False)
            for key in [*keys, *([sub_key] if sub_key else [])]:
                pipe.set(key, value, nx=True, ex=LINK_TTL_SECONDS)
                pipe.get(key)
            replies: list[Any] = await pipe.execute()
            return replies

        replies = await self._call(send, "stripe link")
        found = [_read(raw) for raw in replies[1::2]]
        for existing in found:
            if existing is not None and existing.tombstone:
                return existing
        latest = found[-1] if sub_key else None
        if sub_key and latest is not None and latest.period_end < link.period_end:
            # A renewal: the subscription now follows this period's grant. (Two renewals of
            # one subscription at the same instant do not happen: they are a period apart.)
            await self._call(lambda r: r.set(sub_key, value, ex=LINK_TTL_SECONDS), "stripe link")
        return None

    async def resolve(self, ids: Iterable[str], revoked_by: str) -> Link | None:
        """The grant linked to the first of `ids` that has one; None when none has — then
        each id gets a tombstone naming `revoked_by` (unless a link lands first, which is then
        the answer), so that the grant, should its event come later, applies nothing."""
        keys = [link_key(i) for i in dict.fromkeys(ids)]
        if not keys:
            return None

        async def send(redis: Any) -> list[Any]:
            pipe = redis.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
            replies: list[Any] = await pipe.execute()
            return replies

        for found in map(_read, await self._call(send, "stripe link lookup")):
            if found is not None and not found.tombstone:
                return found
        tombstone = _encode(Link(revoked_by=revoked_by))

        async def bury(redis: Any) -> list[Any]:
            pipe = redis.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, tombstone, nx=True, ex=LINK_TTL_SECONDS)
                pipe.get(key)
            replies: list[Any] = await pipe.execute()
            return replies

        for found in map(_read, (await self._call(bury, "stripe link"))[1::2]):
            if found is not None and not found.tombstone:
                return found  # a grant linked it between the two round trips
        return None

    async def _call(self, fn: Any, what: str) -> list[Any]:
        reply = await self.gateway.call(fn, what)
        if reply is UNAVAILABLE:
            raise self.gateway.refused("Payments need")
        result: list[Any] = reply
        return result
