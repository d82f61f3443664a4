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
import os
import sys

import msgspec

from threadr.errors import ServiceUnavailable, Unprocessable

from .article import Article
from .worker import READY, Job, Reply

log = logging.getLogger(__name__)

_encode_job = msgspec.msgpack.Encoder().encode
_decode_reply = msgspec.msgpack.Decoder(Reply).decode
# What a worker does not inherit of the environment: it parses hostile pages in C, so it must
# not hold the OpenAI key, the Redis password or any other secret. A denylist, not an
# allowlist: platforms (Nix, Railway's builders) need variables of their own to run Python.
_SECRET_WORDS = (
    *("KEY", "SECRET", "TOKEN", "PASSW", "CREDENTIAL", "AUTH", "REDIS", "OPENAI", "STRIPE"),
    *("DATABASE", "_URL", "DSN", "COOKIE", "SESSION", "PRIVATE"),
)


def worker_env(environ: dict[str, str]) -> dict[str, str]:
    """`environ` without anything that may be a secret (by name)."""
    return {
        name: value
        for name, value in environ.items()
        if not any(word in name.upper() for word in _SECRET_WORDS)
    }


class _Worker:
    """One worker process and the two pipes to it; one job at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def spawn(cls) -> _Worker:
        """A started worker, once it has said it is ready (its import is not a page's time)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "threadr.articles.extraction.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=worker_env(dict(os.environ)),
        )
        worker = cls(process)
        assert process.stdout is not None
        try:
            if await process.stdout.readexactly(len(READY)) != READY:
                raise OSError("the extraction worker did not start")
        except BaseException:
            await worker.reap()
            raise
        return worker

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

    async def reap(self) -> None:
        """Kill the process and read its pipes to the end: a pipe left mid-reply is never
        closed otherwise (asyncio pauses reading it), and neither is the process's transport."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(OSError, ValueError):
            await self.process.communicate()


class ExtractionPool:
    """Extracts articles in up to `workers` processes, each page within `timeout` seconds."""

    def __init__(self, *, workers: int, timeout: float) -> None:
        self.timeout = timeout
        self.size = workers
        # Idle workers; None is a free slot whose process is not started (or was killed).
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        for _ in range(workers):
            self._idle.put_nowait(None)
        self._running: set[_Worker] = set()
        self._reaping: set[asyncio.Task[None]] = set()
        self._closed = False

    async def extract(
        self, body: bytes, *, url: str | None = None, content_type: str | None = None
    ) -> Article:
        """The article of a page, as `extract()` gives it; raises Unprocessable for a page that
        has none, or takes longer than the limit, and ServiceUnavailable when every worker has
        been busy for as long (or none can start)."""
        job = _encode_job(Job(body, url, content_type))
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
        # arrives as the inner call completes, and a cancelled caller must never hold a worker.
        try:
            async with asyncio.timeout(self.timeout):
                worker = await self._idle.get()
        except TimeoutError:
            raise self._busy("Every page reader is busy; try again in a few seconds.") from None
        try:
            if worker is None or not worker.alive:
                worker = await self._start()
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

    async def _start(self) -> _Worker:
        if self._closed:
            raise self._busy("The service is shutting down; try again in a few seconds.")
        try:
            worker = await _Worker.spawn()
        except (OSError, asyncio.IncompleteReadError) as exc:  # out of processes or files
            log.error("an extraction worker could not start: %r", exc)
            raise self._busy("No page reader could start; try again in a few seconds.") from None
        self._running.add(worker)
        return worker

    def _busy(self, detail: str) -> ServiceUnavailable:
        return ServiceUnavailable(detail, headers={"Retry-After": str(max(1, round(self.timeout)))})

    def _discard(self, worker: _Worker | None) -> None:
        if worker is not None:
            self._running.discard(worker)
            task = asyncio.get_running_loop().create_task(worker.reap())
            self._reaping.add(task)
            task.add_done_callback(self._reaping.discard)

    @property
    def in_use(self) -> int:
        """How many workers are reading a page now (for operators and tests)."""
        return self.size - self._idle.qsize()

    @property
    def processes(self) -> list[asyncio.subprocess.Process]:
        """The worker processes now running (for operators and tests)."""
        return [w.process for w in self._running if w.alive]

    async def aclose(self) -> None:
        """Stop every worker and wait for them to exit (the app's lifespan calls this); a page
        asked for afterwards gets a 503."""
        self._closed = True
        for worker in list(self._running):
            self._discard(worker)
        await asyncio.gather(*self._reaping)
