"""Account records: one per normalised email, created with SET NX so that the email key is the
unique index — of 100 concurrent registrations of one address exactly one wins."""

from __future__ import annotations

import logging

import msgspec

from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import account_key


class Account(msgspec.Struct, frozen=True):
    """An account as stored (msgpack). Fields added later get defaults (schema evolution)."""

    user_id: str
    email: str
    password_hash: str
    created_at: int  # epoch ms


log = logging.getLogger(__name__)
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Account).decode


class Accounts:
    """Creates and reads account records; every call needs Redis (503 without it)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def create(self, account: Account) -> bool:
        """Store `account` unless its email is taken (False)."""
        key, value = account_key(account.email), _encode(account)
        done = await self.gateway.call(
            lambda r: r.set(key, value, nx=True), "account create", key=key
        )
        if done is UNAVAILABLE:
            raise self.gateway.refused("Accounts need")
        return bool(done)

    async def find(self, email: str) -> Account | None:
        """The account of a normalised `email`, if there is one."""
        raw = await self.gateway.get(account_key(email), "account lookup")
        if raw is UNAVAILABLE:
            raise self.gateway.refused("Accounts need")
        if raw is None:
            return None
        try:
            return _decode(raw)
        except msgspec.DecodeError:  # ValidationError too: a record no Account can be read from
            log.error("An account record in Redis cannot be read; treating it as absent")
            return None

    async def replace_hash(self, account: Account, password_hash: str) -> None:
        """Store a new hash of the same password (parameters changed); best effort: the old
        hash keeps working if this write is lost."""
        key = account_key(account.email)
        value = _encode(msgspec.structs.replace(account, password_hash=password_hash))
        await self.gateway.call(lambda r: r.set(key, value, xx=True), "account rehash", key=key)
