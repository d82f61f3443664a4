"""Freezing start-up's objects out of the garbage collector, once the app has started.

Start-up builds ~100k long-lived objects (the SDKs' models among them); every full collection
would scan them all again (~26 ms each on the bench machine, the cache hit's p99 52 → 15 ms once
frozen). A process-wide effect, so only `threadr serve` (and the benchmark measuring it) wraps
the app in it; tests build many apps and would pay for each.
"""

from __future__ import annotations

import gc

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class FreezeAfterStartup:
    """Freezes the heap when the lifespan reports its start-up complete, and thaws it when the
    shutdown is complete (a process that goes on, like the benchmark's, gets its memory back)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_after_freezing(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                # Young generations first, so that start-up's own garbage is not frozen too.
                gc.collect(1)
                gc.freeze()
            elif message["type"] == "lifespan.shutdown.complete":
                gc.unfreeze()
            await send(message)

        await self.app(scope, receive, send_after_freezing)
