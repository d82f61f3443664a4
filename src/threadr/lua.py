"""Lua scripts of `threadr/lua/`: loaded once, run by EVALSHA, re-cached after a NOSCRIPT."""

from __future__ import annotations

import hashlib
import importlib.resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from .lane import Lane, bulk


class Script:
    def __init__(self, name: str) -> None:
        self.source = (
            importlib.resources.files("threadr").joinpath(f"lua/{name}").read_text("utf-8")
        )
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        self.sha_bytes = self.sha.encode()  # sent as is, without redis-py's encoder

    def heads(self, nargs: int) -> tuple[bytes, bytes]:
        """The packed start of EVALSHA and of EVAL for `nargs` arguments after the script
        (numkeys, keys, argv), for `run_packed`."""
        count = b"*%d\r\n" % (nargs + 2)
        return (
            count + bulk(b"EVALSHA") + bulk(self.sha_bytes),
            count + bulk(b"EVAL") + bulk(self.source.encode()),
        )

    async def run_packed(self, lane: Lane, heads: tuple[bytes, bytes], rest: bytes) -> Any:
        """`run` on the lane: `heads` from `heads(n)`, `rest` the n arguments packed."""
        try:
            return await lane.execute(heads[0] + rest)
        except NoScriptError:
            return await lane.execute(heads[1] + rest)  # no await before: the lane is free

    async def load(self, redis: Redis) -> None:
        """SCRIPT LOAD at start-up, so the first requests need not send the source."""
        await redis.script_load(self.source)

    async def run(self, redis: Redis, *args: Any) -> Any:
        """EVALSHA numkeys keys… argv…; after NOSCRIPT (SCRIPT FLUSH, restart, failover) the
        source goes with EVAL, which runs and re-caches it in one step: no window in which
        another flush could fail this call."""
        try:
            return await redis.execute_command("EVALSHA", self.sha_bytes, *args)  # type: ignore[no-untyped-call]
        except NoScriptError:
            return await self.reload(redis, *args)

    async def reload(self, redis: Redis, *args: Any) -> Any:
        return await redis.execute_command("EVAL", self.source, *args)  # type: ignore[no-untyped-call]
