"""Sessions on fakeredis (Lua included): an opaque token of 256 random bits of which Redis keeps
only the SHA-256, a sliding expiry refreshed at most once a minute and capped at the absolute
maximum, the oldest sessions beyond SESSIONS_PER_ACCOUNT revoked, and revocation per account."""

from __future__ import annotations

import base64
import re

import fakeredis
import pytest
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import CountingRedis, make_gateway, next_ms, redis_ms
from threadr.accounts import sessions as sessions_module
from threadr.accounts.premium import account_holder
from threadr.accounts.sessions import Sessions, new_user_id, token_hash
from threadr.storage.keys import premium_key, session_index_key, session_key

TTL = 86_400  # seconds: SESSION_TTL_DAYS=1
MAX = 3 * 86_400  # SESSION_MAX_DAYS=3
TOKEN = re.compile(r"thr_(?P<user>[0-9a-f]{24})_(?P<secret>[A-Za-z0-9_-]{43})")
SLACK_MS = 5_000  # what a slow test run may take between a write and a check of its TTL


def sessions_on(redis: FakeRedis, *, per_account: int = 20) -> Sessions:
    return Sessions(make_gateway(redis), ttl_seconds=TTL, max_seconds=MAX, per_account=per_account)


async def open_one(store: Sessions, user_id: str, agent: str = "firefox") -> tuple[str, str]:
    return await store.open(user_id, "ann@example.com", "192.0.2.7", agent)


async def everything_in(redis: FakeRedis) -> bytes:
    """Every key and every value the database holds, as one byte string to search."""
    parts: list[bytes | str] = []
    for key in await redis.keys("*"):
        parts.append(key)
        kind = await redis.type(key)
        if kind == b"string":
            parts.append(await redis.get(key) or b"")
        elif kind == b"hash":
            parts += [part for pair in (await redis.hgetall(key)).items() for part in pair]
        elif kind == b"zset":
            parts += await redis.zrange(key, 0, -1)  # type: ignore[arg-type]  # members only
        else:
            pytest.fail(f"a {kind!r} at {key!r}: extend this dump")
    return b"\n".join(p if isinstance(p, bytes) else p.encode() for p in parts)


async def test_a_token_names_its_account_and_carries_256_random_bits(fake: FakeRedis) -> None:
    store = sessions_on(fake, per_account=100)
    user_id = new_user_id()
    opened = [await open_one(store, user_id) for _ in range(50)]
    secrets_seen = set()
    for token, sid in opened:
        match = TOKEN.fullmatch(token)
        assert match is not None, token
        assert match["user"] == user_id
        # 43 base64url characters: 32 bytes (256 bits) from the CSPRNG.
        assert len(base64.urlsafe_b64decode(match["secret"] + "=")) == 32
        secrets_seen.add(match["secret"])
        assert re.fullmatch(r"[0-9a-f]{16}", sid)
    assert len(secrets_seen) == 50
    assert len({sid for _, sid in opened}) == 50


async def test_redis_keeps_only_the_sha256_of_a_token(fake: FakeRedis) -> None:
    store = sessions_on(fake)
    user_id = new_user_id()
    token, sid = await open_one(store, user_id, agent="curl/8.5")
    stored = await everything_in(fake)
    secret = TOKEN.fullmatch(token)["secret"]  # type: ignore[index]
    assert token.encode() not in stored
    assert secret.encode() not in stored
    assert token_hash(token).encode() in stored  # the dump did reach the session
    record = await fake.hgetall(session_key(user_id, token_hash(token)))
    assert {k: record[k] for k in (b"sid", b"user_id", b"email", b"ip", b"user_agent")} == {
        b"sid": sid.encode(),
        b"user_id": user_id.encode(),
        b"email": b"ann@example.com",
        b"ip": b"192.0.2.7",
        b"user_agent": b"curl/8.5",
    }


async def test_a_lookup_slides_the_expiry_at_most_once_a_minute(fake: FakeRedis) -> None:
    store = sessions_on(fake)
    user_id = new_user_id()
    token, _ = await open_one(store, user_id)
    key = session_key(user_id, token_hash(token))
    assert TTL * 1000 - SLACK_MS < await fake.pttl(key) <= TTL * 1000

    await fake.pexpire(key, 50_000)
    assert await store.find(token) is not None
    assert await fake.pttl(key) <= 50_000  # seen within the minute: no write

    stale = await redis_ms(fake) - 61_000
    await fake.hset(key, "last_seen", str(stale))
    found = await store.find(token)
    assert found is not None and found.last_seen > stale
    assert TTL * 1000 - SLACK_MS < await fake.pttl(key) <= TTL * 1000


async def test_the_expiry_never_slides_past_the_absolute_cap(fake: FakeRedis) -> None:
    store = sessions_on(fake)
    user_id = new_user_id()
    token, _ = await open_one(store, user_id)
    key = session_key(user_id, token_hash(token))
    now = await redis_ms(fake)
    await fake.hset(key, mapping={"max_until": str(now + 600_000), "last_seen": str(now - 61_000)})
    assert await store.find(token) is not None
    assert 600_000 - SLACK_MS < await fake.pttl(key) <= 600_000


async def test_a_session_past_its_cap_is_gone(fake: FakeRedis) -> None:
    store = sessions_on(fake)
    user_id = new_user_id()
    token, _ = await open_one(store, user_id)
    kept, kept_sid = await open_one(store, user_id)
    key = session_key(user_id, token_hash(token))
    await fake.hset(key, "max_until", str(await redis_ms(fake) - 1))
    assert await fake.pttl(key) > 0  # Redis alone would keep it for days yet
    assert await store.find(token) is None
    assert await fake.exists(key) == 0
    assert [s.sid for s in await store.list(user_id)] == [kept_sid]
    assert await fake.zcard(session_index_key(user_id)) == 1  # its index entry left too
    assert await store.find(kept) is not None


async def test_past_sessions_per_account_the_oldest_are_revoked(fake: FakeRedis) -> None:
    store = sessions_on(fake, per_account=2)
    user_id = new_user_id()
    opened = []
    for agent in ("first", "second", "third"):
        opened.append(await open_one(store, user_id, agent))
        await next_ms(fake)  # sign-in time orders them
    (oldest, _), (second, second_sid), (newest, newest_sid) = opened
    assert await store.find(oldest) is None
    assert await fake.exists(session_key(user_id, token_hash(oldest))) == 0
    assert await store.find(second) is not None and await store.find(newest) is not None
    listed = await store.list(user_id)
    assert [(s.sid, s.user_agent) for s in listed] == [
        (newest_sid, "third"),
        (second_sid, "second"),
    ]
    assert await fake.zcard(session_index_key(user_id)) == 2


@pytest.mark.parametrize(
    "token",
    [
        "",
        "thr_",
        "not-a-token",
        "thr_0123456789abcdef01234567_" + "A" * 42,  # one character short
        "thr_0123456789ABCDEF01234567_" + "A" * 43,  # upper-case hex
        "thr_0123456789abcdef01234567_" + "A" * 42 + "=",
        "thr_0123456789abcdef01234567_" + "A" * 43,  # well formed, never issued
    ],
)
async def test_a_token_that_was_never_issued_finds_nothing(fake: FakeRedis, token: str) -> None:
    assert await sessions_on(fake).find(token) is None


async def test_a_token_changed_in_any_part_finds_nothing(fake: FakeRedis) -> None:
    store = sessions_on(fake)
    user_id, other = new_user_id(), new_user_id()
    token, _ = await open_one(store, user_id)
    await open_one(store, other)
    secret = token.split("_", 2)[2]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert await store.find(f"thr_{user_id}_{flipped}") is None
    assert await store.find(f"thr_{other}_{secret}") is None  # another account's id
    assert await store.find(token) is not None


async def test_a_lookup_is_one_script_call_that_reads_premium_too() -> None:
    redis = CountingRedis(server=fakeredis.FakeServer())
    store = sessions_on(redis)
    await store.gateway.load(sessions_module.SCRIPT)
    user_id = new_user_id()
    token, _ = await open_one(store, user_id)
    await redis.hset(premium_key(account_holder(user_id)), "until", "4102444800000")
    redis.commands.clear()
    found = await store.find(token)
    assert redis.commands == ["EVALSHA"]
    assert found is not None and found.premium_until == 4_102_444_800_000


async def test_revocation_needs_the_account_that_owns_the_session(fake: FakeRedis) -> None:
    store = sessions_on(fake)
    ann, bob = new_user_id(), new_user_id()
    ann_token, ann_sid = await open_one(store, ann)
    bob_token, _ = await open_one(store, bob)
    assert await store.revoke(bob, ann_sid) is False
    assert await store.revoke(ann, "0123456789abcdef") is False
    assert await store.find(ann_token) is not None
    assert await store.revoke(ann, ann_sid) is True
    assert await store.find(ann_token) is None
    assert await store.revoke(ann, ann_sid) is False  # once
    assert await store.list(ann) == []
    assert await store.find(bob_token) is not None


async def test_close_ends_a_session_at_once(fake: FakeRedis) -> None:
    store = sessions_on(fake)
    user_id = new_user_id()
    token, _ = await open_one(store, user_id)
    other, other_sid = await open_one(store, user_id)
    found = await store.find(token)
    assert found is not None
    await store.close(found)
    assert await store.find(token) is None
    assert [s.sid for s in await store.list(user_id)] == [other_sid]
    assert await store.find(other) is not None
