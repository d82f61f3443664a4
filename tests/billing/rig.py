"""The webhook as services.py builds it, on a fakeredis whose commands can be made to fail: what
test_webhooks.py and test_revocations.py deliver events to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakeredis import FakeAsyncRedis as FakeRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.billing.stripe_fake import SECRET, checkout_completed, event, sign
from tests.factories import make_gateway, make_settings
from threadr.accounts.auth import Auth
from threadr.accounts.passwords import Passwords
from threadr.accounts.premium import DAY_MS, Premium
from threadr.accounts.sessions import Sessions
from threadr.accounts.users import Accounts
from threadr.billing.payments import Billing
from threadr.billing.webhooks import Receipt
from threadr.storage.breaker import CircuitBreaker
from threadr.storage.keys import premium_key

ANN = "0123456789abcdef01234567"
BOB = "89abcdef0123456789abcdef"
DAYS_MS = 30 * DAY_MS


class SwitchableRedis(FakeRedis):
    """fakeredis that fails the commands named in `failing` like an unreachable server."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.failing: set[str] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if str(args[0]).upper() in self.failing:
            raise RedisConnectionError("connection refused")
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


@dataclass
class Rig:
    redis: Any
    auth: Auth
    billing: Billing
    breaker: CircuitBreaker

    def heal(self) -> None:
        """Redis answers every command again, and the watch's probe has seen it (storage/watch.py
        closes the circuit the first failure opened)."""
        self.redis.failing = set()
        self.breaker.close()

    async def deliver(self, payload: bytes, signature: str | None = None) -> Receipt:
        header = sign(payload) if signature is None else signature
        return await self.billing.webhooks.receive(payload, header)

    async def until(self, holder: str) -> int | None:
        return await self.auth.premium.until(holder)

    async def grants(self, holder: str) -> list[bytes]:
        fields = await self.redis.hkeys(premium_key(holder))
        return sorted(f for f in fields if f.startswith(b"g:"))


class built:
    """A Billing over `redis` (None: no Redis), as services.py builds it."""

    def __init__(self, redis: Any, **env: str) -> None:
        self.redis, self.env = redis, env
        self.passwords = Passwords(time_cost=1, memory_kib=8, parallelism=1)

    async def __aenter__(self) -> Rig:
        settings = make_settings(**({"STRIPE_WEBHOOK_SECRET": SECRET} | self.env))
        gateway = make_gateway(self.redis)
        sessions = Sessions(gateway, ttl_seconds=60, max_seconds=60, per_account=5)
        auth = Auth(Accounts(gateway), sessions, Premium(gateway), self.passwords)
        billing = Billing.build(settings, gateway, auth, None)
        return Rig(self.redis, auth, billing, gateway.breaker)

    async def __aexit__(self, *exc: object) -> None:
        self.passwords.close()
        if isinstance(self.redis, FakeRedis):
            await self.redis.aclose()


def paid(user_id: str | None = ANN, event_id: str = "evt_paid", **fields: Any) -> bytes:
    return event(
        "checkout.session.completed", checkout_completed(user_id, **fields), event_id=event_id
    )
