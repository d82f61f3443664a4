"""Premium access: an expiry per holder — an account, or a paid email until an account with that
email claims it — extended by each grant, each grant recorded once under its reference.

Never an address: premium keyed by IP (the previous implementation's `premium:ip:None`) gave it
to everyone behind one proxy. Premium needs Redis: without it, grants answer 503 and checks
report no premium (the free tier's fallbacks still serve)."""

from __future__ import annotations

import msgspec

from threadr.errors import ValidationFailed
from threadr.storage.gateway import UNAVAILABLE, Gateway, Unavailable
from threadr.storage.keys import email_tag, premium_key
from threadr.storage.scripts import Script, ScriptCall

SCRIPT = Script("premium.lua")
_EXTEND = ScriptCall(SCRIPT, keys=1, argc=5)
_REVOKE = ScriptCall(SCRIPT, keys=1, argc=4)
_END = ScriptCall(SCRIPT, keys=1, argc=3)
_DROP = ScriptCall(SCRIPT, keys=1, argc=2)
DAY_MS = 86_400_000
MAX_REFERENCE = 200  # characters: a Stripe event id, an invoice number, an admin's note

_json = msgspec.json.encode


def account_holder(user_id: str) -> str:
    return f"u:{user_id}"


def email_holder(email: str) -> str:
    return f"e:{email_tag(email)}"


def reference_of(raw: str) -> str:
    """A grant's reference as stored: trimmed, 1–200 printable characters."""
    reference = raw.strip()
    if not reference or len(reference) > MAX_REFERENCE or not reference.isprintable():
        raise ValidationFailed(
            f"`reference` must be 1 to {MAX_REFERENCE} printable characters (an invoice or "
            "event id, or a note saying why).",
            code="invalid_reference",
        )
    return reference


class Grant(msgspec.Struct, frozen=True):
    """The outcome of a change: the holder's expiry (epoch ms), whether this call recorded it
    (False: the reference had been applied before, and nothing was done again) and, for a
    revoke, the ms it took back."""

    until: int
    applied: bool
    taken_ms: int = 0


class Premium:
    """Reads and changes premium expiries in Redis; every change is one atomic script call."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def extend(self, holder: str, days: int, reference: str, source: str) -> Grant:
        """Add `days` to what is left of `holder`'s premium (from now if none is left), once
        per `reference`; ServiceUnavailable (503) when Redis cannot record it."""
        args = (
            b"extend",
            reference.encode(),
            str(days * DAY_MS).encode(),
            str(days).encode(),
            _json(source),
        )
        return await self._run(_EXTEND, holder, args, "premium grant")

    async def revoke(self, holder: str, reference: str, original: str, source: str) -> Grant:
        """Take back what is left of the one grant recorded under `original` (a refund, a
        cancelled subscription) — never more than it added, never below now, other grants
        untouched — once per `reference`. A grant not applied yet is marked so that it never
        applies (its event, delivered late, is a replay); ServiceUnavailable when Redis cannot
        record it."""
        args = (b"revoke", reference.encode(), original.encode(), _json(source))
        return await self._run(_REVOKE, holder, args, "premium revoke")

    async def end(self, holder: str, reference: str, source: str) -> Grant:
        """End all of `holder`'s premium now, once per `reference`: an operator's stop. (A
        refund or a cancelled subscription takes back its own grant only: `revoke`.)"""
        args = (b"end", reference.encode(), _json(source))
        return await self._run(_END, holder, args, "premium end")

    async def until(self, holder: str) -> int | None:
        """`holder`'s expiry (epoch ms), None when it never had premium; ServiceUnavailable
        when Redis cannot say."""
        key = premium_key(holder)
        raw = await self.gateway.call(lambda r: r.hget(key, "until"), "premium check", key=key)
        if raw is UNAVAILABLE:
            raise self.gateway.refused("Premium checks need")
        return int(raw) if raw else None

    async def claim(self, email: str, user_id: str) -> None:
        """Move the grants paid for `email` before its account existed to that account.

        Three steps, each safe to repeat: read the email's grants; absorb them into the
        account under a reference naming them (a repeat after a failure applies nothing
        twice); drop the email's hash — or, when a grant came in meanwhile, keep on it only
        that grant's time, which the next claim moves."""
        source = premium_key(email_holder(email))
        fields: dict[bytes, bytes] | Unavailable = await self.gateway.call(
            lambda r: r.hgetall(source),  # type: ignore[arg-type,return-value]
            "premium claim",
            key=source,
        )
        if fields is UNAVAILABLE:
            raise self.gateway.refused("Signing in needs")
        if not fields or b"until" not in fields:
            return
        until = fields.pop(b"until")
        copied = [part for pair in sorted(fields.items()) for part in pair]
        absorb = ScriptCall(SCRIPT, keys=1, argc=3 + len(copied))
        # The reference names the expiry and the number of grants moved: the same claim
        # repeated after a failure is the same reference; a grant since makes a new one.
        reference = b"claim:%s:%d" % (until, len(fields))
        args = (b"absorb", reference, until, *copied)
        await self._run(absorb, account_holder(user_id), args, "premium claim")
        reply = await self.gateway.script(
            _DROP, (source.encode(),), (b"drop", until), "premium claim"
        )
        if reply is UNAVAILABLE:
            raise self.gateway.refused("Signing in needs")

    async def _run(
        self, call: ScriptCall, holder: str, args: tuple[bytes, ...], what: str
    ) -> Grant:
        reply = await self.gateway.script(call, (premium_key(holder).encode(),), args, what)
        if reply is UNAVAILABLE:
            raise self.gateway.refused("Premium grants need")
        applied, until, *rest = reply
        taken = int(rest[0]) if rest else 0
        return Grant(until=int(until), applied=applied == 1, taken_ms=taken)
