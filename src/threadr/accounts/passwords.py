"""Passwords: the rules a new one must meet, and Argon2id hashing off the event loop.

Argon2id (RFC 9106) through argon2-cffi, with ARGON2_TIME_COST, ARGON2_MEMORY_KIB and
ARGON2_PARALLELISM (defaults: RFC 9106's second recommendation, t=3, m=64 MiB, p=4; ~50–100 ms
on one core). A hash made with other parameters is replaced at the next successful sign-in.

Hashing runs in a small thread pool: argon2-cffi releases the GIL while it computes, so the
event loop keeps serving (a hash on the loop would stall every request for its duration).
The pool has one thread per core and a bounded queue (ARGON2_QUEUE calls waiting or running): a
flood of sign-ins waits its turn or gets a 503, never an unbounded pile of 64 MiB hashes."""

from __future__ import annotations

import asyncio
import importlib.resources
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from threadr.errors import ServiceUnavailable, ValidationFailed

T = TypeVar("T")

MIN_LENGTH = 10
MAX_LENGTH = 256

# common_passwords.txt: the most common leaked passwords of 10 characters or more.
COMMON = frozenset(
    line.strip()
    for line in importlib.resources.files(__package__)
    .joinpath("common_passwords.txt")
    .read_text("utf-8")
    .splitlines()
    if line.strip() and not line.startswith("#")
)


def check_password(password: str, email: str) -> None:
    """Raise ValidationFailed (422) with a sentence saying what is wrong with a new password."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            f"Choose a password of at least {MIN_LENGTH} characters.", code="password_too_short"
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            f"Choose a password of at most {MAX_LENGTH} characters.", code="password_too_long"
        )
    folded = password.strip().casefold()
    if folded in (email.casefold(), email.partition("@")[0].casefold()):
        raise ValidationFailed(
            "Choose a password that is not your email address.", code="password_is_email"
        )
    if folded in COMMON or len(set(folded)) <= 2:
        raise ValidationFailed(
            "That password is among the most common ones and is guessed first; choose another.",
            code="password_too_common",
        )


class Passwords:
    """Argon2id hashes made and checked on worker threads, `queue` calls at most in flight."""

    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, queue: int = 128
    ) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._pool = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="argon2"
        )
        self._room = queue
        # Checked against when an email has no account, so that "no such account" takes as long
        # as "wrong password" (no account enumeration by timing). Made on a worker thread at
        # the first hash or check, not at start-up (every app start, and test, would pay a
        # hash), and ready well before any later call needs it.
        self._decoy: Future[str] | None = None

    async def hash(self, password: str) -> str:
        self._prepare_decoy()
        return await self._off_loop(self.hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (no account) the same work is done."""
        if password_hash is None:
            decoy = await asyncio.wrap_future(self._prepare_decoy())
            await self._off_loop(self._verify, decoy, password)
            return False
        self._prepare_decoy()
        return await self._off_loop(self._verify, password_hash, password)

    def _prepare_decoy(self) -> Future[str]:
        if self._decoy is None:
            self._decoy = self._pool.submit(self.hasher.hash, os.urandom(16).hex())
        return self._decoy

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _off_loop(self, fn: Callable[..., T], *args: str) -> T:
        if self._room <= 0:
            raise ServiceUnavailable(
                "Too many sign-ins are being checked at once; please try again in a few seconds.",
                code="auth_busy",
                headers={"Retry-After": "2"},
            )
        self._room -= 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._room += 1
