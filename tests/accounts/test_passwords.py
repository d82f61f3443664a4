"""Passwords: the boundaries of the rules (each rule's 422 over HTTP is in
tests/web/test_accounts.py), Argon2id with the configured parameters, a hash with old parameters
flagged for replacement, hashing off the event loop, and the bounded queue's 503."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from tests.factories import PASSWORD, GatedHasher, make_settings, until
from threadr.accounts.passwords import MAX_LENGTH, MIN_LENGTH, Passwords, check_password
from threadr.errors import ServiceUnavailable, ValidationFailed


@pytest.fixture
def passwords() -> Iterator[Passwords]:
    hashing = Passwords(time_cost=2, memory_kib=16, parallelism=2)
    yield hashing
    hashing.close()


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("x1" * 4 + "y", "password_too_short"),  # 9
        ("x1y2" * 64 + "z", "password_too_long"),  # 257
        ("ANNABELLE.LEE@example.com", "password_is_email"),
        (" Annabelle.Lee ", "password_is_email"),  # the local part, spaces and case aside
        ("QwertyUiop", "password_too_common"),  # on the list, in any case
        ("zzzzzzzzzzzzzz", "password_too_common"),
        ("xyxyxyxyxyxy", "password_too_common"),  # two characters repeated
    ],
)
def test_a_password_outside_the_rules_is_refused(password: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_password(password, "annabelle.lee@example.com")
    assert (refused.value.status, refused.value.code) == (422, code)


@pytest.mark.parametrize(
    "password",
    [
        "x1y" * 3 + "z",  # exactly MIN_LENGTH
        "x1y2" * 64,  # exactly MAX_LENGTH
        "annabelle.lee@example.org",  # not this account's email
        "xyzxyzxyzxyz",  # three distinct characters
    ],
)
def test_a_password_within_the_rules_passes(password: str) -> None:
    assert MIN_LENGTH <= len(password) <= MAX_LENGTH
    check_password(password, "annabelle.lee@example.com")


async def test_hashes_are_argon2id_with_the_configured_parameters(passwords: Passwords) -> None:
    hashed = await passwords.hash(PASSWORD)
    used = extract_parameters(hashed)
    assert (used.type, used.time_cost, used.memory_cost, used.parallelism) == (Type.ID, 2, 16, 2)
    assert hashed.startswith("$argon2id$v=19$m=16,t=2,p=2$")
    assert hashed != await passwords.hash(PASSWORD)  # salted
    assert await passwords.verify(hashed, PASSWORD) is True
    assert await passwords.verify(hashed, PASSWORD + "!") is False
    assert await passwords.verify(hashed, PASSWORD.upper()) is False
    assert await passwords.verify("not an argon2 hash", PASSWORD) is False
    assert await passwords.verify(None, PASSWORD) is False  # no account: the decoy is checked


async def test_a_hash_with_other_parameters_needs_replacing(passwords: Passwords) -> None:
    hashed = await passwords.hash(PASSWORD)
    assert passwords.needs_rehash(hashed) is False
    for changed in (
        Passwords(time_cost=3, memory_kib=16, parallelism=2),
        Passwords(time_cost=2, memory_kib=32, parallelism=2),
        Passwords(time_cost=2, memory_kib=16, parallelism=1),
    ):
        try:
            assert changed.needs_rehash(hashed) is True
            assert await changed.verify(hashed, PASSWORD) is True  # the old hash still works
        finally:
            changed.close()


def test_the_defaults_are_rfc_9106s_second_recommendation() -> None:
    defaults = make_settings()
    assert (
        defaults.argon2_time_cost,
        defaults.argon2_memory_kib,
        defaults.argon2_parallelism,
    ) == (3, 65_536, 4)


async def test_the_event_loop_keeps_turning_while_a_default_hash_runs() -> None:
    defaults = make_settings()
    hashing = Passwords(
        time_cost=defaults.argon2_time_cost,
        memory_kib=defaults.argon2_memory_kib,
        parallelism=defaults.argon2_parallelism,
    )
    try:
        task = asyncio.create_task(hashing.hash(PASSWORD))
        turns = 0
        while not task.done():
            turns += 1
            await asyncio.sleep(0)
        assert extract_parameters(task.result()).memory_cost == 65_536
    finally:
        hashing.close()
    # A hash run on the loop would finish within one step of its task: the loop would turn
    # once or twice. Off the loop (64 MiB, tens of milliseconds) it turns thousands of times.
    assert turns >= 100, turns


async def test_past_its_queue_hashing_answers_503_auth_busy() -> None:
    hashing = Passwords(time_cost=1, memory_kib=8, parallelism=1, queue=1)
    gated = GatedHasher()
    hashing.hasher = gated
    held = asyncio.create_task(hashing.hash(PASSWORD))
    try:
        await until(gated.entered.is_set)
        for call in (hashing.hash(PASSWORD), hashing.verify("$argon2id$...", PASSWORD)):
            with pytest.raises(ServiceUnavailable) as busy:
                await call
            assert (busy.value.status, busy.value.code) == (503, "auth_busy")
            assert busy.value.headers == {"Retry-After": "2"}
    finally:
        gated.gate.set()
        hashed = await held
        hashing.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    # Its place comes back when the call in flight ends.
    assert await hashing.verify(hashed, PASSWORD) is True
    hashing.close()
