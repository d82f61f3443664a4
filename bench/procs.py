"""Child processes of a benchmark: started pinned to a core, awaited on their port, always stopped.

Every process a benchmark starts goes through one `Procs` (a context manager), which stops them
all on the way out — after an error, Ctrl-C or SIGTERM too. Nothing here listens on anything
but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Cores:
    """Which CPUs the server under test and the load side (wrk, Redis, mocks) may use."""

    server: tuple[int, ...]
    load: tuple[int, ...]

    @property
    def pinned(self) -> bool:
        return bool(self.server) and not set(self.server) & set(self.load)


def split_cores() -> Cores:
    """The first allowed CPU for the server, the others for the load; unpinned on one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Cores((), ())
    return Cores((cpus[0],), tuple(cpus[1:]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process and of every process under it: a server's workers
    (`--workers N`) and its extraction processes count as the server. (A child that has exited
    takes its time with it.)"""
    total = 0.0
    for process in (pid, *descendants(pid)):
        with contextlib.suppress(OSError):  # gone since it was listed
            total += cpu_seconds(process)
    return total


def descendants(pid: int) -> list[int]:
    """The processes under `pid`, children first."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, …)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def pin(pid: int, cpus: Sequence[int]) -> None:
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)


class Procs:
    """Starts child processes and stops every one of them when the `with` block ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Procs:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # SIGTERM (e.g. from `timeout` or CI) unwinds like Ctrl-C, so the finally blocks run.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cpus: Sequence[int] = (),
        port: int | None = None,
        timeout: float = 20.0,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` pinned to `cpus`; with `port`, wait until it accepts connections."""
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env={**base_env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C reaches us, and we stop the children in order
        )
        log.close()
        self.children.append((name, proc))
        pin(proc.pid, cpus)
        if port is not None:
            self.wait_port(name, proc, port, timeout)
        return proc

    def wait_port(
        self, name: str, proc: subprocess.Popen[bytes], port: int, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not listen on {HOST}:{port} in {timeout:g} s")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        # Reverse order: the service before the Redis it talks to.
        for _, proc in reversed(self.children):
            with contextlib.suppress(Exception):
                self.stop(proc)
        self.children.clear()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def base_env() -> dict[str, str]:
    """The parent's environment minus everything a child might read as configuration (no
    REDIS_URL, OPENAI_API_KEY … of the developer's shell leaks into a benchmark)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TERM", "VIRTUAL_ENV")
    return {k: os.environ[k] for k in keep if k in os.environ}


def python() -> str:
    return sys.executable
