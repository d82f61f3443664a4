"""Generation leases: one instance at a time writes the entry of a cache key; the others wait
for it instead of paying OpenAI again (the cross-instance half of single-flight; the in-process
half is singleflight.py).

The first instance to miss takes the key's lease (lease.lua: SET NX PX of a random token, in
the same call that looks for the entry), renews it while it works, writes the entry, then
releases it (compare-and-delete, and a message on the key's channel). The others subscribe to
that channel (signals.py) and look again at each message and at least every CHECK_SECONDS:
the entry is there (answer with it), the lease is gone without one (its holder failed or died:
take it over, in the same call), or it is still held (wait on). A waiter waits at most the time
it is given; then, and whenever Redis cannot be asked, it gets a lease of its own that nobody
else sees and works alone — a request never fails because a lease could not be had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

from .gateway import UNAVAILABLE, Gateway
from .keys import lease_key, released_channel
from .scripts import Script, ScriptCall
from .signals import Listener, Signals

log = logging.getLogger(__name__)

# A lease's time to live. Long enough to ride out two renewals lost to Redis timeouts (2 s
# each by default) or a stalled loop; short enough that when its holder dies (a crash, a
# kill -9, a deploy that does not drain), the waiters take over within 15 s.
LEASE_MS = 15_000
RENEW_SECONDS = 5.0  # a third of the lease: one renewal may fail and the lease still holds
# How often a waiter looks for itself although no message came: a holder that died sends none
# (its lease expires), and a message sent while the subscription was reconnecting is lost.
CHECK_SECONDS = 1.0
POLL_SECONDS = 0.1  # ...and how often while it has no subscription at all

SCRIPT = Script("lease.lua")
_CALL = ScriptCall(SCRIPT, keys=2, argc=4)  # op, token, ms, channel
_TAKE, _RENEW, _RELEASE = b"take", b"renew", b"release"


@dataclass(frozen=True, slots=True)
class Found:
    """The entry that was there (or that another instance wrote while we waited), as stored,
    and the milliseconds it has left."""

    entry: bytes
    ttl_ms: int


class Lease:
    """A lease held: renewed while its `async with` block runs, released at the block's end.
    A lease that is not `shared` (Redis could not be asked, or the wait ran out) stands in for
    one and does nothing."""

    def __init__(self, leases: Leases | None, key: str, token: bytes = b"") -> None:
        self.shared = leases is not None
        self._leases = leases
        self._keys = (key.encode(), lease_key(key).encode())
        self._channel = released_channel(key).encode()
        self._token = token
        self._renewing: asyncio.Task[None] | None = None
        self._ended = False

    async def __aenter__(self) -> Lease:
        if self._leases is not None:
            self._renewing = asyncio.create_task(self._renew(self._leases))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        leases, renewing = self._leases, self._renewing
        if leases is None or renewing is None:
            return
        # The flag, not only the cancel, ends the renewals: a cancel that lands as a Redis call
        # finishes can be swallowed below us (asyncio.wait_for's race on Python 3.11 in a
        # client), and the loop would then renew, and this wait last, for ever.
        self._ended = True
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)
        args = (_RELEASE, self._token, b"", self._channel)
        await leases.gateway.script(_CALL, self._keys, args, "lease release")

    async def _renew(self, leases: Leases) -> None:
        args = (_RENEW, self._token, leases.lease_ms, b"")
        while not self._ended:
            await asyncio.sleep(leases.renew_seconds)
            reply = await leases.gateway.script(_CALL, self._keys, args, "lease renew")
            if reply is not UNAVAILABLE and reply[0] == 0:
                log.warning(
                    "A generation lease lapsed while its work went on; another instance may "
                    "be doing the same work"
                )
                return


class Leases:
    """Takes, and waits for, the leases of cache keys (`claim`)."""

    def __init__(
        self,
        gateway: Gateway,
        signals: Signals | None = None,
        *,
        lease_ms: int = LEASE_MS,
        renew_seconds: float = RENEW_SECONDS,
        check_seconds: float = CHECK_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.gateway = gateway
        self.signals = signals
        self.lease_ms = str(lease_ms).encode()
        self.renew_seconds = renew_seconds
        self.check_seconds = check_seconds
        self.poll_seconds = poll_seconds

    async def claim(self, key: str, within: float) -> Found | Lease:
        """The entry of cache key `key` if it is there, else its lease; while another instance
        holds the lease, wait (at most `within` seconds) until the entry is written or the
        lease is free to take over."""
        token = secrets.token_hex(16).encode()
        claimed = await self._take(key, token)
        if claimed is not None:
            return claimed
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with self._listen(key) as listener:
            while True:
                # First look once subscribed: a release just before it sent no message to us.
                claimed = await self._take(key, token)
                if claimed is not None:
                    return claimed
                left = deadline - loop.time()
                if left <= 0:
                    log.warning("Waited %.0f s for another instance's entry; going alone", within)
                    return Lease(None, key)
                interval = self.check_seconds if listener.live else self.poll_seconds
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(interval, left)):
                        await listener.woken.wait()
                listener.woken.clear()

    async def _take(self, key: str, token: bytes) -> Found | Lease | None:
        """One look: the entry, the lease (ours now), or None while another holds it."""
        keys = (key.encode(), lease_key(key).encode())
        reply = await self.gateway.script(
            _CALL, keys, (_TAKE, token, self.lease_ms, b""), "lease take"
        )
        if reply is UNAVAILABLE:
            return Lease(None, key)  # Redis cannot say: work alone, as without Redis
        if reply[0] == 1:
            return Found(reply[1], int(reply[2]))
        if reply[0] == 2:
            return Lease(self, key, token)
        return None

    @contextlib.asynccontextmanager
    async def _listen(self, key: str) -> AsyncIterator[Listener]:
        if self.signals is None:
            yield Listener()
            return
        async with self.signals.listen(released_channel(key)) as listener:
            yield listener
