"""Extraction off the event loop, with a hard time limit: a pool of worker processes.

Parsing is CPU-bound and a hostile page can make it slow, so `extract()` never runs on the
event loop. Each worker (worker.py) is a process of its own fed through its stdin and stdout:
a page that overruns the limit is answered with a 422 and its worker is killed, not waited
for (a thread cannot be stopped, and a thread would hold the GIL the loop needs). Processes
start lazily, on the first page they are needed for, so an app that never reads a page starts
none. docs/extraction.md gives the cost per cache miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

import msgspec

from threadr.errors import ServiceUnavailable, Unprocessable

from .article import Article
from .worker import Job, Reply

log = logging.getLogger(__name__)

_encode_job = msgspec.msgpack.Encoder().encode
_decode_reply = msgspec.msgpack.Decoder(Reply).decode


class _Worker:
    """One worker process and the two pipes to it; one job at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def spawn(cls) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "threadr.articles.extraction.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def ask(self, job: bytes) -> Reply:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(len(job).to_bytes(4, "big") + job)
        await stdin.drain()
        size = int.from_bytes(await stdout.readexactly(4), "big")
        return _decode_reply(await stdout.readexactly(size))

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class ExtractionPool:
    """Extracts articles in up to `workers` processes, each page within `timeout` seconds."""

    def __init__(self, *, workers: int, timeout: float) -> None:
        self.timeout = timeout
        # Idle workers; None is a free slot whose process is not started (or was killed).
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        for _ in range(workers):
            self._idle.put_nowait(None)
        self._all: set[_Worker] = set()

    async def extract(
        self, body: bytes, *, url: str | None = None, content_type: str | None = None
    ) -> Article:
        """The article of a page, as `extract()` gives it; raises Unprocessable for a page that
        has none, or takes longer than the limit, and ServiceUnavailable when every worker has
        been busy for as long."""
        job = _encode_job(Job(body, url, content_type))
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
        # arrives as the inner call completes, and a cancelled caller must never hold a worker.
        try:
            async with asyncio.timeout(self.timeout):
                worker = await self._idle.get()
        except TimeoutError:
            raise ServiceUnavailable(
                "Every page reader is busy; try again in a few seconds.",
                headers={"Retry-After": str(max(1, round(self.timeout)))},
            ) from None
        try:
            if worker is None or not worker.alive:
                self._all = {w for w in self._all if w.alive}
                worker = await _Worker.spawn()
                self._all.add(worker)
            async with asyncio.timeout(self.timeout):
                reply = await worker.ask(job)
        except TimeoutError:
            self._discard(worker)
            worker = None
            raise Unprocessable(
                f"The page took longer than {self.timeout:g} s to read; "
                "it is too large or too complex to be an article.",
                code="page_too_slow",
            ) from None
        except (OSError, asyncio.IncompleteReadError, msgspec.DecodeError) as exc:
            log.warning("an extraction worker failed: %r", exc)
            self._discard(worker)
            worker = None
            raise Unprocessable(
                "The page could not be read as an article.", code="unreadable_page"
            ) from None
        except BaseException:  # cancelled mid-job: its reply would reach the next caller
            self._discard(worker)
            worker = None
            raise
        finally:
            self._idle.put_nowait(worker)
        if reply.article is None:
            raise Unprocessable(reply.detail, code=reply.code)
        return reply.article

    def _discard(self, worker: _Worker | None) -> None:
        # Killed but kept in _all until it has exited, so that aclose() can wait for it.
        if worker is not None:
            worker.kill()

    @property
    def processes(self) -> list[asyncio.subprocess.Process]:
        """The worker processes now running (for operators and tests)."""
        return [w.process for w in self._all if w.alive]

    async def aclose(self) -> None:
        """Stop every worker and wait for them to exit (the app's lifespan calls this)."""
        for worker in self._all:
            worker.kill()
        await asyncio.gather(*(w.process.wait() for w in self._all))
        self._all.clear()
