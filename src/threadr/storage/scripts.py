"""Lua scripts of `storage/lua/`, registered once and run by EVALSHA (EVAL after a NOSCRIPT), and
`ScriptCall`: the shape of one script's calls, with what they all share encoded once."""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from .lane import Lane, bulk


class Script:
    """A script file's source and SHA1; `run` survives a SCRIPT FLUSH, a restart or a failover."""

    def __init__(self, name: str, *, needs: tuple[str, ...] = ()) -> None:
        lua = importlib.resources.files(__package__).joinpath("lua")
        # Redis runs one source per script: the shared functions of lua/lib/ it `needs` go
        # in front of it.
        parts = [lua.joinpath("lib", lib).read_text("utf-8") for lib in needs]
        self.source = "".join([*parts, lua.joinpath(name).read_text("utf-8")])
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        self.sha_bytes = self.sha.encode()  # sent as is, without redis-py's encoder

    async def load(self, redis: Redis) -> None:
        """SCRIPT LOAD at start-up, so the first requests need not send the source."""
        await redis.script_load(self.source)

    async def run(self, redis: Redis, *args: Any) -> Any:
        """EVALSHA numkeys keys… argv…; after NOSCRIPT the source goes with EVAL, which runs and
        re-caches it in one step: no window in which another flush could fail this call."""
        try:
            return await redis.execute_command("EVALSHA", self.sha_bytes, *args)  # type: ignore[no-untyped-call]
        except NoScriptError:
            return await redis.execute_command("EVAL", self.source, *args)  # type: ignore[no-untyped-call]


class ScriptCall:
    """Calls of `script` with `keys` keys, then `argc` arguments of the caller's, then the
    constant `tail`. The tail is encoded once, and for the lane the whole command but the
    caller's part is packed once (the arguments of a cache hit's call cost ~70 encodings
    through redis-py; bench/callcount.py).

    `hot`: the call may take the lane (the one command of every cache hit); others take the
    pool, so that misses and status calls never queue the hits behind them."""

    __slots__ = (
        "_count",
        "_heads",
        "_numkeys",
        "_packed_tail",
        "_unread",
        "argc",
        "hot",
        "keys",
        "script",
        "tail",
    )

    def __init__(
        self,
        script: Script,
        *,
        keys: int,
        argc: int,
        tail: Sequence[bytes] = (),
        hot: bool = False,
    ) -> None:
        self.script = script
        self.keys = keys
        self.argc = argc
        self.hot = hot
        self.tail = tuple(tail)
        self._count = keys + argc + 1  # the parts run_on packs: keys, arguments, the tail
        self._numkeys = str(keys).encode()
        count = b"*%d\r\n" % (2 + 1 + keys + argc + len(self.tail))  # command, script, numkeys …
        numkeys = bulk(self._numkeys)
        self._heads = (
            count + bulk(b"EVALSHA") + bulk(script.sha_bytes) + numkeys,
            count + bulk(b"EVAL") + bulk(script.source.encode()) + numkeys,
        )
        self._packed_tail = b"".join(map(bulk, self.tail))
        self._unread: ScriptCall | None = None

    @property
    def unread(self) -> ScriptCall:
        """This call without its last key: the script's own keys alone, for when the key it
        would read along lives in another hash slot (the gateway's `script_and_get` on Redis
        Cluster)."""
        if self._unread is None:
            self._unread = ScriptCall(
                self.script, keys=self.keys - 1, argc=self.argc, tail=self.tail
            )
        return self._unread

    async def run(self, redis: Redis, keys: Sequence[bytes], args: Sequence[bytes]) -> Any:
        """The call through redis-py, on a pooled connection."""
        if len(keys) != self.keys or len(args) != self.argc:
            raise self._misfit()
        return await self.script.run(redis, self._numkeys, *keys, *args, *self.tail)

    async def run_on(self, lane: Lane, keys: Sequence[bytes], args: Sequence[bytes]) -> Any:
        """The call on the lane; call only when `lane.free`, with no await in between."""
        parts = [*map(bulk, keys), *map(bulk, args), self._packed_tail]
        if len(parts) != self._count:
            # A wrong count on the lane is worse than a wrong answer: Redis would read what is
            # past the packed count as another command, whose reply would answer the
            # connection's next caller. (One check of the total: this runs on every cache
            # hit, and `run` checks keys and arguments apart on the same calls in the tests.)
            raise self._misfit()
        rest = b"".join(parts)
        try:
            return await lane.execute(self._heads[0] + rest)
        except NoScriptError:
            return await lane.execute(self._heads[1] + rest)  # no await before: the lane is free

    def _misfit(self) -> ValueError:
        return ValueError(f"this call takes {self.keys} keys and {self.argc} arguments")
