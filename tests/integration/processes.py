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

from tests.factories import until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_startup(proc: subprocess.Popen[bytes], workers: int) -> None:
    """Read the server's log until uvicorn says it listens and every worker has started (or the
    process dies). One process logs "Application startup complete" before it binds the port;
    with workers the parent binds it first, then each worker starts its app."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = b""
    while (
        b"Uvicorn running on" not in seen or seen.count(b"Application startup complete") < workers
    ):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"threadr serve did not start in 30 s: {seen.decode()}"
        ready, _, _ = select.select([proc.stderr], [], [], remaining)
        # os.read, not readline: a buffered reader could hold lines select() cannot see.
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk or proc.poll() is None, f"threadr serve exited: {seen.decode()}"
        seen += chunk


@contextlib.contextmanager
def threadr_servers(
    count: int, env: dict[str, str], cwd: Path | None = None, *, workers: int = 1
) -> Iterator[list[int]]:
    """`count` real `threadr serve` processes (only the installed package, the given env; no
    inherited REDIS_*, OPENAI_*, RAILWAY_*, WEB_CONCURRENCY or PROMETHEUS_MULTIPROC_DIR), each
    with `workers` workers; yields their ports and stops them afterwards."""
    with threadr_processes(count, env, cwd, workers=workers) as served:
        yield [port for port, _ in served]


@contextlib.contextmanager
def threadr_processes(
    count: int, env: dict[str, str], cwd: Path | None = None, *, workers: int = 1
) -> Iterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    """As `threadr_servers`, yielding each server's port and process."""
    inherited = ("REDIS", "OPENAI", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR", "RAILWAY")
    base = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    threadr = str(Path(sys.executable).with_name("threadr"))
    ports = [free_port() for _ in range(count)]
    argv = ["--workers", str(workers)] if workers > 1 else []
    procs = [
        subprocess.Popen(  # noqa: S603 - our own console script
            [threadr, "serve", "--port", str(port), *argv],
            cwd=cwd,
            env=base | env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for proc in procs:
            _wait_for_startup(proc, workers)
        yield list(zip(ports, procs, strict=True))
    finally:
        for proc in procs:
            proc.terminate()
            proc.communicate(timeout=20)  # also closes the stderr pipe


def workers_of(pid: int) -> list[int]:
    """The uvicorn workers of the `threadr serve` process `pid`: its children that
    multiprocessing spawned to run a server (not its resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = stat.with_name("cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def environ_of(pid: int) -> dict[str, str]:
    """The environment process `pid` started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode().partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def serving_pid(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server's end of the open TCP connection from `client_port` to
    `server_port` (IPv4): the worker that accepted it, read from /proc, as the kernel has it."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state == "01" and (  # ESTABLISHED
            int(local.rpartition(":")[2], 16) == server_port
            and int(remote.rpartition(":")[2], 16) == client_port
        ):
            inode = fields[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # closed meanwhile
                if os.readlink(fd) == target:
                    return pid
    return None


async def ready(proc: asyncio.subprocess.Process) -> None:
    """Wait until the redis-server `proc` (its output piped) accepts connections."""
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        seen = b""
        while b"Ready to accept connections" not in seen:
            line = await proc.stdout.readline()
            assert line, f"redis-server exited: {seen.decode()}"
            seen += line


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
        await ready(proc)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


class LocalCluster:
    """`masters` cluster-enabled redis-servers of our own, and `replicas` more per master, joined
    into one cluster by `redis-cli --cluster create`, their files in `data` (`masters` holds the
    ports it made masters). `cluster-require-full-coverage no`: a master that dies with no
    replica takes only its own slots away, the others keep serving theirs."""

    def __init__(self, data: Path, masters: int = 3, replicas: int = 0) -> None:
        self.data = data
        self.replicas = replicas
        self.ports = [free_port() for _ in range(masters * (1 + replicas))]
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.masters: list[int] = []  # known once started
        self._logs: list[asyncio.Task[bytes]] = []  # each server's output, read to its end

    @property
    def url(self) -> str:
        """REDIS_URL naming the first node (the client learns the others from it)."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    async def start(self) -> None:
        for port in self.ports:
            self.procs[port] = proc = await asyncio.create_subprocess_exec(
                "redis-server",
                "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.data),
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-port", str(free_port()),  # not port + 10000, which may be taken
                "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
                # A replica may take over however long since it last heard from its master (by
                # default not after 10 node timeouts: a replica that never synced anything).
                "--cluster-replica-validity-factor", "0",
                "--appendonly", "no", "--save", "",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            await ready(proc)
            assert proc.stdout is not None
            self._logs.append(asyncio.create_task(proc.stdout.read()))  # so it never blocks
        create = await asyncio.create_subprocess_exec(
            "redis-cli", "--cluster", "create",
            *(f"127.0.0.1:{port}" for port in self.ports),
            "--cluster-replicas", str(self.replicas), "--cluster-yes",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(create.communicate(), 30)
        assert create.returncode == 0, out.decode()
        for port in self.ports:
            await self.wait_until_ok(port)
        self.masters = sorted(await self.serving(self.ports[0]))

    async def serving(self, port: int) -> set[int]:
        """The ports of the masters that serve slots and are not failed, as `port` sees them."""
        found = set()
        for line in (await self.cli(port, "cluster", "nodes")).decode().splitlines():
            # id, host:port@bus, flags, master, ping, pong, epoch, link state, slots…
            fields = line.split()
            if "master" in fields[2] and "fail" not in fields[2] and len(fields) > 8:
                found.add(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return found

    async def wait_until_ok(self, port: int, within: float = 20) -> None:
        """Until the node on `port` says `cluster_state:ok`."""

        async def ok() -> bool:
            return b"cluster_state:ok" in await self.cli(port, "cluster", "info")

        await until(ok, within)

    async def cli(self, port: int, *args: str) -> bytes:
        """`redis-cli -p port args…`: its output."""
        proc = await asyncio.create_subprocess_exec(
            "redis-cli", "-p", str(port), *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,  # "Could not connect" from a node killed on purpose
        )  # fmt: skip
        out, _ = await proc.communicate()
        return out

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port` (no goodbye to the others or the clients)."""
        self.procs[port].kill()

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        await asyncio.gather(*self._logs)
