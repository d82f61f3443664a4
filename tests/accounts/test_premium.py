"""Premium on fakeredis (Lua included): a grant extends what is left, a reference applies once,
a revoke takes back what is left of its one grant (and makes a grant that comes after it a
replay), and an email's grants move to its account once, even when the move is repeated after a
failure half-way."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import make_gateway, redis_ms
from threadr.accounts.premium import DAY_MS, Premium, account_holder, email_holder
from threadr.accounts.sessions import new_user_id
from threadr.storage.keys import premium_key
from threadr.storage.scripts import ScriptCall

SLACK_MS = 5_000  # Redis's clock moves on between our reading and the script's


def close_to(value: int, expected: int) -> bool:
    return abs(value - expected) <= SLACK_MS


async def test_grants_extend_what_is_left(fake: FakeRedis) -> None:
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    assert await premium.until(holder) is None
    now = await redis_ms(fake)
    first = await premium.extend(holder, 30, "inv-1", "admin")
    second = await premium.extend(holder, 30, "inv-2", "stripe")
    assert first.applied and second.applied
    assert close_to(first.until, now + 30 * DAY_MS)
    assert second.until == first.until + 30 * DAY_MS  # added to the rest, not from now
    assert await premium.until(holder) == second.until
    record = json.loads(await fake.hget(premium_key(holder), "g:inv-2") or b"{}")
    assert record["kind"] == "grant" and record["days"] == 30 and record["source"] == "stripe"


async def test_a_reference_is_applied_once(fake: FakeRedis) -> None:
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    granted = await premium.extend(holder, 30, "evt_1", "stripe")
    again = await premium.extend(holder, 30, "evt_1", "stripe")
    other_length = await premium.extend(holder, 90, "evt_1", "stripe")
    assert again.applied is False and other_length.applied is False
    assert again.until == other_length.until == granted.until
    fields = await fake.hkeys(premium_key(holder))
    assert sorted(fields) == [b"g:evt_1", b"until"]


async def test_an_end_stops_premium_now_once(fake: FakeRedis) -> None:
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    await premium.extend(holder, 30, "inv-1", "admin")
    ended = await premium.end(holder, "refund-1", "admin")
    now = await redis_ms(fake)
    assert ended.applied and ended.until <= now and close_to(ended.until, now)
    assert (await premium.end(holder, "refund-1", "admin")).applied is False
    assert await premium.until(holder) == ended.until
    regranted = await premium.extend(holder, 30, "inv-2", "admin")
    assert close_to(regranted.until, now + 30 * DAY_MS)  # from now: nothing was left


async def test_a_revoke_takes_back_only_what_its_grant_added(fake: FakeRedis) -> None:
    """An admin's year, then a 30-day purchase that is refunded: the year stays."""
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    year = await premium.extend(holder, 365, "admin-1", "admin")
    await premium.extend(holder, 30, "stripe:cs_1", "stripe")
    revoked = await premium.revoke(holder, "stripe:ch_1:refunded", "stripe:cs_1", "stripe")
    assert revoked.applied and revoked.taken_ms == 30 * DAY_MS
    assert revoked.until == year.until
    assert await premium.until(holder) == year.until
    # Once per reference, and a grant is taken back once, whatever the reference.
    again = await premium.revoke(holder, "stripe:ch_1:refunded", "stripe:cs_1", "stripe")
    other = await premium.revoke(holder, "stripe:sub_1:deleted", "stripe:cs_1", "stripe")
    assert (again.applied, again.taken_ms) == (False, 0)
    assert (other.applied, other.taken_ms) == (True, 0)
    assert await premium.until(holder) == year.until
    grant = json.loads(await fake.hget(premium_key(holder), "g:stripe:cs_1") or b"{}")
    assert grant["revoked_by"] == "stripe:ch_1:refunded" and grant["days"] == 30
    record = json.loads(await fake.hget(premium_key(holder), "g:stripe:ch_1:refunded") or b"{}")
    assert (record["kind"], record["of"], record["taken"]) == ("revoke", "stripe:cs_1", 30 * DAY_MS)


async def test_a_revoke_never_goes_below_now(fake: FakeRedis) -> None:
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    await premium.extend(holder, 30, "stripe:cs_1", "stripe")
    revoked = await premium.revoke(holder, "refund-1", "stripe:cs_1", "stripe")
    now = await redis_ms(fake)
    assert revoked.until <= now and close_to(revoked.until, now)
    regranted = await premium.extend(holder, 30, "stripe:cs_2", "stripe")
    assert close_to(regranted.until, now + 30 * DAY_MS)  # from now: nothing was left


async def test_a_revoke_before_its_grant_makes_the_late_grant_a_replay(fake: FakeRedis) -> None:
    """Out of order: the refund is handled before the payment's event is (a retry)."""
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    revoked = await premium.revoke(holder, "stripe:ch_1:refunded", "stripe:cs_1", "stripe")
    assert (revoked.applied, revoked.taken_ms) == (True, 0)
    assert await premium.until(holder) is None  # never had premium
    late = await premium.extend(holder, 30, "stripe:cs_1", "stripe")
    assert late.applied is False
    assert await premium.until(holder) is None
    other = await premium.extend(holder, 30, "stripe:cs_2", "stripe")  # another payment
    assert other.applied and (await premium.until(holder) or 0) > await redis_ms(fake)


async def write_grants(fake: FakeRedis, holder: str, until: int, **records: dict[str, Any]) -> None:
    """A holder's hash as the script would have left it, with times in the past."""
    fields: dict[str | bytes, str | bytes] = {"until": str(until)}
    fields |= {f"g:{name}": json.dumps(record) for name, record in records.items()}
    await fake.hset(premium_key(holder), mapping=fields)  # type: ignore[arg-type]


def grant(days: int, at: int, until: int) -> dict[str, Any]:
    return {"kind": "grant", "days": days, "source": "stripe", "at": at, "until": until}


async def test_a_grant_whose_time_has_passed_has_nothing_left_to_revoke(fake: FakeRedis) -> None:
    """A subscription cancelled at the end of its period, with an admin's grant after it."""
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    now = await redis_ms(fake)
    period = grant(31, now - 32 * DAY_MS, now - DAY_MS)
    admin = grant(365, now - DAY_MS, now + 364 * DAY_MS)
    await write_grants(fake, holder, now + 364 * DAY_MS, **{"sub-p1": period, "admin-1": admin})
    revoked = await premium.revoke(holder, "sub:deleted", "sub-p1", "stripe")
    assert (revoked.applied, revoked.taken_ms) == (True, 0)
    assert revoked.until == now + 364 * DAY_MS


async def test_what_is_left_of_a_grant_counts_what_was_revoked_before_it(
    fake: FakeRedis,
) -> None:
    """Three 30-day grants stacked 20 days ago; the first was refunded 10 days ago (20 of its
    days taken), which moved the second to end in 20 days: revoking it now takes 20 days, not
    30 (its recorded end is 40 days away), so the third keeps all of its 30."""
    premium = Premium(make_gateway(fake))
    holder = account_holder(new_user_id())
    now = await redis_ms(fake)
    start = now - 20 * DAY_MS
    refund = {
        "kind": "revoke",
        "of": "a",
        "of_until": start + 30 * DAY_MS,
        "taken": 20 * DAY_MS,
        "source": "stripe",
        "at": now - 10 * DAY_MS,
        "until": start + 70 * DAY_MS,
    }
    await write_grants(
        fake,
        holder,
        start + 70 * DAY_MS,
        a=grant(30, start, start + 30 * DAY_MS) | {"revoked_by": "refund-a"},
        b=grant(30, start, start + 60 * DAY_MS),
        c=grant(30, start, start + 90 * DAY_MS),
        **{"refund-a": refund},
    )
    revoked = await premium.revoke(holder, "refund-b", "b", "stripe")
    assert close_to(revoked.taken_ms, 20 * DAY_MS)
    assert close_to(revoked.until, now + 30 * DAY_MS)  # the third grant, whole
    # A grant made after a revoke is not moved by it.
    later = await premium.extend(holder, 10, "d", "stripe")
    assert (await premium.revoke(holder, "refund-d", "d", "stripe")).taken_ms == 10 * DAY_MS
    assert await premium.until(holder) == later.until - 10 * DAY_MS


async def test_an_emails_grants_move_to_its_account_once(fake: FakeRedis) -> None:
    premium = Premium(make_gateway(fake))
    email, user_id = "cleo@example.com", new_user_id()
    paid = await premium.extend(email_holder(email), 30, "inv-1", "admin")
    await premium.claim(email, user_id)
    account = account_holder(user_id)
    assert close_to(await premium.until(account) or 0, paid.until)
    assert await fake.exists(premium_key(email_holder(email))) == 0
    moved = await premium.until(account)

    await premium.claim(email, user_id)  # a second sign-in: nothing left to move
    assert await premium.until(account) == moved
    # The grant's reference came along: a replay of it to the account changes nothing.
    replay = await premium.extend(account, 30, "inv-1", "admin")
    assert replay.applied is False and replay.until == moved


async def test_a_claim_repeated_after_failing_half_way_adds_nothing(fake: FakeRedis) -> None:
    premium = Premium(make_gateway(fake))
    email, user_id = "cleo@example.com", new_user_id()
    source = premium_key(email_holder(email))
    await premium.extend(email_holder(email), 30, "inv-1", "admin")
    paid = await fake.hgetall(source)
    await premium.claim(email, user_id)
    moved = await premium.until(account_holder(user_id))
    for field, value in paid.items():  # as if the email's hash had not been dropped
        await fake.hset(source, field, value)
    await premium.claim(email, user_id)
    assert await premium.until(account_holder(user_id)) == moved
    assert await fake.exists(source) == 0


async def test_a_claim_adds_to_the_premium_an_account_has(fake: FakeRedis) -> None:
    premium = Premium(make_gateway(fake))
    email, user_id = "cleo@example.com", new_user_id()
    own = await premium.extend(account_holder(user_id), 10, "inv-own", "admin")
    now = await redis_ms(fake)
    paid = await premium.extend(email_holder(email), 30, "inv-paid", "admin")
    await premium.claim(email, user_id)
    total = await premium.until(account_holder(user_id)) or 0
    assert close_to(total, own.until + (paid.until - now))
    assert close_to(total, now + 40 * DAY_MS)


async def test_a_grant_landing_during_a_claim_is_counted_once(
    fake: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    premium = Premium(make_gateway(fake))
    email, user_id = "cleo@example.com", new_user_id()
    await premium.extend(email_holder(email), 30, "inv-1", "admin")
    script = premium.gateway.script

    async def racing(call: ScriptCall, keys: Any, args: Any, what: str) -> Any:
        if args[0] == b"drop":  # a payment for the email, found with no account a moment ago
            await premium.extend(email_holder(email), 30, "inv-2", "stripe")
        return await script(call, keys, args, what)

    monkeypatch.setattr(premium.gateway, "script", racing)
    await premium.claim(email, user_id)  # at sign-up
    monkeypatch.setattr(premium.gateway, "script", script)
    await premium.claim(email, user_id)  # at the next sign-in
    now = await redis_ms(fake)
    assert close_to(await premium.until(account_holder(user_id)) or 0, now + 60 * DAY_MS)
