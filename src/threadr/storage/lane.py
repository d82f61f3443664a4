"""A lean path for the one Redis command every cache hit sends (the limiter script with the cache
GET folded in): pre-packed bytes on connections of its own, skipping redis-py's per-command
bookkeeping.

Why: through `Redis.execute_command`, that one EVALSHA cost ~90 Python calls in redis-py 8.1 and
~70 builtin calls to encode its 12 arguments — more than the rest of the request's own code
(bench/callcount.py measured it; docs/performance.md). Here it costs ~25.

What is kept from redis-py: the connections are the client pool's own kind, made by
`ConnectionPool.make_connection`, so TLS and its verification, AUTH, SELECT, HELLO, the client
name and the idle health check (a PING after 30 s unused) are redis-py's. `send_packed_command`
and `read_response` close the connection on any error or cancellation (a timeout included), so a
connection never goes back to the idle list with a reply still due; the next use reconnects.

A command that fails with a connection error on a reused connection — closed while idle by a
Redis restart or a proxy's idle timeout, or a LOADING reply just after a restart — is sent once
more (on a fresh connection when redis-py closed the old one), as redis-py's Retry would; like
redis-py's, that retry can run a command twice if the connection died after Redis ran it.
Anything else goes to the circuit breaker, and the request to the in-process fallback; a READONLY
reply (a replica, after a failover) has the gateway drop the idle connections (`disconnect`).
Left out: redis-py's OpenTelemetry hooks (off in this service) and its backoff between retries.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError


def bulk(arg: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def command(*args: bytes) -> bytes:
    """A whole RESP command."""
    return b"*%d\r\n%s" % (len(args), b"".join(map(bulk, args)))


class Lane:
    """Up to `size` connections, each used by one command at a time."""

    def __init__(self, redis: Redis, size: int) -> None:
        self._pool = redis.connection_pool
        self.size = size
        self._idle: list[AbstractConnection] = []
        self._made: list[AbstractConnection] = []

    @property
    def free(self) -> bool:
        """A command sent now gets a connection without waiting."""
        return bool(self._idle) or len(self._made) < self.size

    async def execute(self, packed: bytes) -> Any:
        """Send one packed command and return its reply (a Redis error reply raises).

        Call only when `free`, with no `await` in between: then a connection is always there
        (asyncio runs nothing else until this coroutine first suspends)."""
        if self._idle:
            conn = self._idle.pop()
        else:
            conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
            self._made.append(conn)
        reused = conn.is_connected
        try:
            try:
                await conn.send_packed_command(packed)
                return await conn.read_response()
            except RedisConnectionError:
                if not reused:
                    raise
                # A connection the server (a restart, a timeout) or a NAT closed while it was
                # idle; redis-py has closed it. Once more on a new one, as redis-py's Retry would.
                await conn.send_packed_command(packed)
                return await conn.read_response()
        finally:
            self._idle.append(conn)

    async def disconnect(self) -> None:
        """Close the idle connections; the next command on each makes a new one. (One in use
        is closed by redis-py when its command fails or is cut off.)"""
        for conn in self._idle:
            await conn.disconnect()

    async def aclose(self) -> None:
        for conn in self._made:
            await conn.disconnect()
