"""Registration, sign-in and the token check: the account flows over the stores of this package.

No enumeration: registration hashes the password before it knows whether the email is taken,
and sign-in checks a password against a decoy hash when the email has no account, so both take
the same time either way; a failed sign-in says the same words whichever part was wrong."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from threadr.errors import Conflict, Unauthorized
from threadr.subscribers.address import normalise

from .passwords import Passwords, check_password
from .premium import Grant, Premium, account_holder, email_holder
from .sessions import Session, Sessions, new_user_id
from .users import Account, Accounts

WRONG_CREDENTIALS = "That email and password do not match an account."


def session_gone() -> Unauthorized:
    """The 401 of a bearer token that names no live session."""
    return Unauthorized(
        "Your session has expired or was signed out; please sign in again.", code="invalid_token"
    )


class SignedIn(msgspec.Struct, frozen=True):
    """A new session: the token (shown to the client once), the account it belongs to, and
    the account's premium expiry (epoch ms; claimed grants included)."""

    token: str
    account: Account
    sid: str
    premium_until: int | None = None


class Auth:
    """The account flows: register, sign in, check a token, sign out, grant premium by email."""

    def __init__(
        self,
        accounts: Accounts,
        sessions: Sessions,
        premium: Premium,
        passwords: Passwords,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.premium = premium
        self.passwords = passwords
        self._clock = clock

    async def register(self, email: str, password: str, ip: str, user_agent: str) -> SignedIn:
        """A new account, signed in; Conflict (409) when the email has one already."""
        address = normalise(email)
        check_password(password, address)
        hashed = await self.passwords.hash(password)  # first: a taken email costs the same
        account = Account(new_user_id(), address, hashed, round(self._clock() * 1000))
        if not await self.accounts.create(account):
            raise Conflict(
                "An account with this email already exists; sign in instead.", code="email_taken"
            )
        return await self._open(account, ip, user_agent)

    async def login(self, email: str, password: str, ip: str, user_agent: str) -> SignedIn:
        """A new session for the account; Unauthorized (401) for any wrong part."""
        address = normalise(email)
        account = await self.accounts.find(address)
        stored = account.password_hash if account else None
        if not await self.passwords.verify(stored, password) or account is None:
            raise Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")
        if self.passwords.needs_rehash(account.password_hash):
            await self.accounts.replace_hash(account, await self.passwords.hash(password))
        return await self._open(account, ip, user_agent)

    async def authenticate(self, token: str) -> Session:
        """The live session of a bearer token; Unauthorized (401) when there is none."""
        session = await self.sessions.find(token)
        if session is None:
            raise session_gone()
        return session

    async def grant_by_email(
        self,
        email: str,
        days: int,
        reference: str,
        source: str,
        *,
        account: Account | None = None,
    ) -> Grant:
        """Extend the premium of `email`'s account (`account` when the caller has looked it up),
        or of the email itself when it has no account yet (its account claims it on sign-up or
        sign-in)."""
        if account is None:
            account = await self.accounts.find(email)
        holder = account_holder(account.user_id) if account else email_holder(email)
        return await self.premium.extend(holder, days, reference, source)

    async def _open(self, account: Account, ip: str, user_agent: str) -> SignedIn:
        await self.premium.claim(account.email, account.user_id)
        token, sid = await self.sessions.open(account.user_id, account.email, ip, user_agent)
        until = await self.premium.until(account_holder(account.user_id))
        return SignedIn(token, account, sid, until)
