"""Admission for POST /api/generate: the rate limit and the cache read in one Redis round trip
(for a signed-in request, its session lookup too); and the free-tier quota as the account that
pays for a cache miss's generation."""

from __future__ import annotations

import time

from threadr.accounts.auth import Auth, session_gone
from threadr.accounts.sessions import Session, lookup
from threadr.cache import CacheEntry, ThreadCache
from threadr.storage.gateway import UNAVAILABLE
from threadr.storage.scripts import Script, ScriptCall

from .policies import Decision
from .quota import Quota, Reservation
from .ratelimit import Limiter

# The session lookup and the rate limit with the cache read, in one call: a signed-in cache
# hit took two round trips (and two scripts' overhead in Redis) before it.
ACCOUNT_SCRIPT = Script("signed_in.lua", needs=("session.lua", "gcra_pair.lua"))


class Admission:
    """Who gets in, and what the cache already holds for them, in one round trip."""

    def __init__(self, limiter: Limiter, cache: ThreadCache, auth: Auth | None = None) -> None:
        self.limiter = limiter
        self.cache = cache
        self.auth = auth
        self._account: ScriptCall | None = None

    async def enter(
        self, identity: str, key: str, *, premium: bool = False
    ) -> tuple[Decision, CacheEntry | None]:
        """Consume one request of every policy and, when allowed, look up the cache `key`.

        The GET rides in the limiter's script call; when the limiter could not decide in Redis
        (no Redis, or it failed, or the limiter is off) the cache answers on its own."""
        decision, raw = await self.limiter.hit(identity, premium=premium, read=key)
        if not decision.allowed:
            return decision, None
        if raw is UNAVAILABLE:
            return decision, await self.cache.get(key)
        return decision, self.cache.accept(raw)

    async def enter_account(
        self, token: str, key: str
    ) -> tuple[Session, bool, Decision, CacheEntry | None]:
        """`enter` for a signed-in request: its session (sliding its expiry; Unauthorized, 401,
        when the token names none that is live, and nothing consumed), whether the account's
        premium tier applied, the decision, and the cache entry when allowed.

        One round trip (signed_in.lua) on a single Redis with the limiter on; on a cluster,
        whose slots one script cannot span, or with the limiter off, the session lookup and
        then `enter`. Like any session lookup it needs Redis (503 without)."""
        auth = self.auth
        assert auth is not None, "signed-in admission needs the accounts (services.py)"
        found = lookup(token)
        if found is None:
            raise session_gone()
        identity = "user:" + found.user_id
        limiter = self.limiter
        gateway = limiter.gateway
        tiers = limiter.both_tiers(identity)
        if tiers is None or gateway.cluster:
            session = await auth.authenticate(token)
            premium = session.premium_at(time.time() * 1000)
            decision, entry = await self.enter(identity, key, premium=premium)
            return session, premium, decision, entry
        states, specs = tiers
        if self._account is None:  # the tiers' arguments are the process's: packed once
            self._account = ScriptCall(ACCOUNT_SCRIPT, keys=6, argc=5, tail=specs, hot=True)
        args = (*auth.sessions.touch, found.user_id.encode(), b"1", limiter.now())
        reply = await gateway.script(
            self._account, (*found.keys, *states, key.encode()), args, "signed-in admission"
        )
        if reply is UNAVAILABLE:
            raise gateway.refused("Accounts need")
        live = found.session(reply)
        if live is None:
            raise session_gone()
        premium = reply[11] == 1
        decision = limiter.decided(reply[12:19], premium=premium)
        if not decision.allowed:
            return live, premium, decision, None
        cached = reply[19] if len(reply) > 19 else None
        return live, premium, decision, self.cache.accept(cached or None)


class QuotaAccount:
    """One identity's free-tier quota, as the pipeline's `Account`: it keeps its reservations,
    so a refund goes back to the day and the store that counted the generation."""

    __slots__ = ("_held", "identity", "premium", "quota")

    def __init__(self, quota: Quota, identity: str, *, premium: bool = False) -> None:
        self.quota = quota
        self.identity = identity
        self.premium = premium  # premium accounts have no quota: nothing is counted
        self._held: list[Reservation] = []

    async def reserve(self) -> None:
        self._held.append(await self.quota.reserve(self.identity, premium=self.premium))

    async def refund(self) -> None:
        """Refund the latest reservation not yet refunded (none: nothing to give back)."""
        if self._held:
            await self.quota.refund(self._held.pop())
