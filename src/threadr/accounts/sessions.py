"""Server-side sessions: an opaque bearer token per sign-in, of which Redis keeps only the SHA-256,
with a sliding expiry (SESSION_TTL_DAYS) capped at SESSION_MAX_DAYS after sign-in. Logout and
revocation delete the record, so the token fails on its next request on every instance.

The token is `thr_<account id>_<43 characters>`: 256 random bits, behind the account's id so
that its lookup goes straight to the account's keys (one Redis Cluster slot, and one script
call that also reads the account's premium). The prefix lets secret scanners recognise a leaked
token. Clients treat the token as opaque."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any, NamedTuple

import msgspec

from threadr.storage.gateway import UNAVAILABLE, Gateway, Unavailable
from threadr.storage.keys import (
    history_index_key,
    premium_key,
    session_index_key,
    session_key,
)
from threadr.storage.scripts import Script, ScriptCall

from .premium import account_holder

SCRIPT = Script("sessions.lua", needs=("session.lua",))
_OPEN = ScriptCall(SCRIPT, keys=2, argc=9)
_TOUCH = ScriptCall(SCRIPT, keys=3, argc=3, hot=True)  # every signed-in request
_CLOSE = ScriptCall(SCRIPT, keys=2, argc=2)

TOKEN_PREFIX = "thr_"  # noqa: S105 (a prefix, not a secret)
_TOKEN = re.compile(r"thr_([0-9a-f]{24})_[A-Za-z0-9_-]{43}")
_SESSION_ID = re.compile(r"[0-9a-f]{16}")
MAX_USER_AGENT = 256
# A session's expiry slides forward at most this often: one write a minute per active
# session instead of one per request.
REFRESH_MS = 60_000


def new_user_id() -> str:
    """96 random bits as 24 hex digits."""
    return secrets.token_hex(12)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_session_id(raw: str) -> bool:
    return _SESSION_ID.fullmatch(raw) is not None


class Session(msgspec.Struct, frozen=True):
    """A live session, as its token's lookup finds it."""

    sid: str  # the public id of GET /api/auth/sessions: never the token or its hash
    user_id: str
    email: str
    created_at: int  # epoch ms
    last_seen: int
    ip: str
    user_agent: str
    token_hash: str = ""
    premium_until: int | None = None  # epoch ms; read along with the session
    # The account's most recently saved thread, (id, saved_at epoch ms), read along too: a
    # generation that is already there need not be saved again (history/store.py).
    newest_saved: tuple[str, int] | None = None

    @property
    def member(self) -> bytes:
        return f"{self.sid}:{self.token_hash}".encode()

    def premium_at(self, ms: float) -> bool:
        """Premium at `ms` (epoch ms)."""
        return self.premium_until is not None and self.premium_until > ms


class Lookup(NamedTuple):
    """What a token names: its account, its hash, and the keys its lookup reads (the session,
    the account's premium, its saved threads' index: lib/session.lua), in that order."""

    user_id: str
    digest: str
    keys: tuple[bytes, bytes, bytes]

    def session(self, fields: list[Any] | None) -> Session | None:
        """The session a lookup's reply holds (lib/session.lua's fields); None when it found
        none, or one of another account (which no token of this one can name)."""
        if not fields or _field(fields[1]) != self.user_id:
            return None
        return _session(fields, self.digest)


def lookup(token: str) -> Lookup | None:
    """The lookup of `token`; None for one that is malformed (no call to Redis is needed)."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    user_id, digest = match.group(1), token_hash(token)
    keys = (
        session_key(user_id, digest).encode(),
        premium_key(account_holder(user_id)).encode(),
        history_index_key(user_id).encode(),
    )
    return Lookup(user_id, digest, keys)


def _session(fields: list[Any], digest: str) -> Session:
    # A list comprehension, not a generator: this runs on every signed-in request.
    sid, user_id, email, created, seen, ip, agent = [
        v.decode("utf-8", "replace") if isinstance(v, bytes) else "" for v in fields[:7]
    ]
    premium = fields[8] if len(fields) > 8 else None
    saved, saved_at = fields[9:11] if len(fields) > 10 else (None, None)
    newest = None
    if isinstance(saved, bytes) and isinstance(saved_at, bytes):
        newest = (saved.decode("ascii", "replace"), _ms(saved_at.decode("ascii", "replace")))
    return Session(
        sid=sid,
        user_id=user_id,
        email=email,
        created_at=_ms(created),
        last_seen=_ms(seen),
        ip=ip,
        user_agent=agent,
        token_hash=digest,
        premium_until=_ms(premium.decode()) if isinstance(premium, bytes) else None,
        newest_saved=newest,
    )


def _ms(raw: str) -> int:
    """An epoch-ms field as the scripts write it; 0 for anything else (never an error: a
    corrupt record must not turn a request into a 500)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 15 else 0


class Sessions:
    """Opens, finds, lists and closes sessions in Redis; without Redis every call raises the
    gateway's 503 (a session only in one process's memory would vanish, or outlive a logout)."""

    def __init__(
        self, gateway: Gateway, *, ttl_seconds: int, max_seconds: int, per_account: int
    ) -> None:
        self.gateway = gateway
        self.ttl_ms = str(ttl_seconds * 1000).encode()
        self.max_ms = str(max_seconds * 1000).encode()
        # A lookup's arguments (lib/session.lua): the sliding ttl, how often it slides.
        self.touch = (self.ttl_ms, b"%d" % REFRESH_MS)
        self.expires_in = min(ttl_seconds, max_seconds)
        self.per_account = str(per_account).encode()

    async def open(self, user_id: str, email: str, ip: str, user_agent: str) -> tuple[str, str]:
        """A new session: its token (shown once, to the client) and its id."""
        token = f"{TOKEN_PREFIX}{user_id}_{secrets.token_urlsafe(32)}"
        digest, sid = token_hash(token), secrets.token_hex(8)
        member = f"{sid}:{digest}".encode()
        keys = (session_key(user_id, digest).encode(), session_index_key(user_id).encode())
        args = (
            b"open",
            member,
            user_id.encode(),
            email.encode(),
            ip.encode(),
            user_agent[:MAX_USER_AGENT].encode("utf-8", "replace"),
            self.ttl_ms,
            self.max_ms,
            self.per_account,
        )
        evicted = await self._script(_OPEN, keys, args, "session open")
        for old in evicted:  # the oldest beyond SESSIONS_PER_ACCOUNT
            await self._close(user_id, old)
        return token, sid

    async def find(self, token: str) -> Session | None:
        """The live session of `token` (sliding its expiry), with the account's premium expiry
        and newest saved thread; None for a token that is malformed, unknown, revoked or
        expired."""
        found = lookup(token)
        if found is None:
            return None
        reply = await self._script(_TOUCH, found.keys, (b"touch", *self.touch), "session lookup")
        return found.session(reply)

    async def close(self, session: Session) -> None:
        """Sign out: the session's token stops working at once, on every instance."""
        await self._close(session.user_id, session.member)

    async def list(self, user_id: str) -> list[Session]:
        """The account's live sessions, newest first."""
        index = session_index_key(user_id)
        members: list[bytes] | Unavailable = await self.gateway.call(
            lambda r: r.zrevrange(index, 0, -1),  # type: ignore[arg-type,return-value]
            "session list",
            key=index,
        )
        if members is UNAVAILABLE:
            raise self.gateway.refused("Accounts need")
        if not members:
            return []
        keys = [index.encode()]
        keys += [session_key(user_id, m.partition(b":")[2].decode()).encode() for m in members]
        call = ScriptCall(SCRIPT, keys=len(keys), argc=1 + len(members))
        found = await self._script(call, keys, (b"list", *members), "session list")
        return [
            _session(fields, m.partition(b":")[2].decode())
            for m, fields in zip(members, found, strict=True)
            if fields
        ]

    async def revoke(self, user_id: str, sid: str) -> bool:
        """Close the account's session `sid`; False when it has no such session."""
        for session in await self.list(user_id):
            if session.sid == sid:
                await self.close(session)
                return True
        return False

    async def _close(self, user_id: str, member: bytes) -> None:
        digest = member.partition(b":")[2].decode()
        keys = (session_key(user_id, digest).encode(), session_index_key(user_id).encode())
        await self._script(_CLOSE, keys, (b"close", member), "session close")

    async def _script(self, call: ScriptCall, keys: Any, args: tuple[bytes, ...], what: str) -> Any:
        reply = await self.gateway.script(call, keys, args, what)
        if reply is UNAVAILABLE:
            raise self.gateway.refused("Accounts need")
        return reply


def _field(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else ""
