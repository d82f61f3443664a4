"""Real processes for the tests that need them: `threadr serve` instances, and redis-servers of
a test's own (to kill and restart)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_startup(proc: subprocess.Popen[bytes]) -> None:
    """Read the server's log until uvicorn says it listens (or the process dies); it logs
    "Application startup complete" before it binds the port."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = b""
    while b"Uvicorn running on" not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"threadr serve did not start in 30 s: {seen.decode()}"
        ready, _, _ = select.select([proc.stderr], [], [], remaining)
        # os.read, not readline: a buffered reader could hold lines select() cannot see.
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk or proc.poll() is None, f"threadr serve exited: {seen.decode()}"
        seen += chunk


@contextlib.contextmanager
def threadr_servers(
    count: int, env: dict[str, str], cwd: Path | None = None
) -> Iterator[list[int]]:
    """`count` real `threadr serve` processes (only the installed package, the given env; no
    inherited REDIS_*/OPENAI_* variables); yields their ports and stops them afterwards."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "OPENAI"))}
    threadr = str(Path(sys.executable).with_name("threadr"))
    ports = [free_port() for _ in range(count)]
    procs = [
        subprocess.Popen(  # noqa: S603 - our own console script
            [threadr, "serve", "--port", str(port)],
            cwd=cwd,
            env=base | env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for proc in procs:
            _wait_for_startup(proc)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.communicate(timeout=10)  # also closes the stderr pipe


class RedisServer:
    """A redis-server of our own on `port`, its data (append-only file, fsync'd at every write)
    in `data`, so that a restart keeps what was written."""

    def __init__(self, port: int, data: Path) -> None:
        self.port, self.data = port, data
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = proc = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            seen = b""
            while b"Ready to accept connections" not in seen:
                line = await proc.stdout.readline()
                assert line, f"redis-server exited: {seen.decode()}"
                seen += line

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
