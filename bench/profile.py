"""Sampling a server under load with py-spy, and the flame summary: top frames by self and total.

py-spy writes "collapsed" stacks (one line per distinct stack: `frame;frame;… count`); the same
file opens in speedscope or flamegraph.pl for the full picture.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import wrk
from bench.procs import pin


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(
    pid: int,
    url: str,
    script: str,
    out: Path,
    *,
    seconds: float,
    load_cpus: Sequence[int],
    rate: int = 250,
    connections: int = 64,
) -> Path:
    """Sample `pid` for `seconds` while wrk loads `url`; the collapsed stacks go to `out`."""
    spy = _start(pid, out, seconds, load_cpus, rate)
    try:
        wrk.run(url, script, seconds=seconds + 1, cpus=load_cpus, connections=connections)
    finally:
        _finish(spy, out, seconds)
    return out


def sample(
    pid: int, out: Path, *, seconds: float, load_cpus: Sequence[int], rate: int = 250
) -> Path:
    """Sample `pid` for `seconds` under whatever load runs meanwhile (started by the caller)."""
    _finish(_start(pid, out, seconds, load_cpus, rate), out, seconds)
    return out


def _start(
    pid: int, out: Path, seconds: float, load_cpus: Sequence[int], rate: int
) -> subprocess.Popen[bytes]:
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--duration",
        str(round(seconds)),
        "--format",
        "raw",
        "--function",
        "--output",
        str(out),
    ]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pin(spy.pid, load_cpus)
    return spy


def _finish(spy: subprocess.Popen[bytes], out: Path, seconds: float) -> None:
    try:
        _, err = spy.communicate(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')}")


def summarize(collapsed: Path, top: int = 15) -> dict[str, Any]:
    """Share of samples per frame: where it ran itself (self) and anywhere on the stack (total).

    Only the event loop's thread counts: the idle executor threads (uvloop's getaddrinfo pool)
    would otherwise show up as a big `_worker` that does nothing.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or "Runner.run" not in stack:
            continue
        n = int(count)
        samples += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    share = 100 / max(samples, 1)
    # Frames on (nearly) every stack are the start-up chain (runpy, uvicorn.run …): no news.
    inner = [(f, n) for f, n in total.most_common() if n < 0.99 * samples]
    return {
        "samples": samples,
        "self": [(f, round(n * share, 1)) for f, n in own.most_common(top)],
        "total": [(f, round(n * share, 1)) for f, n in inner[:top]],
    }


def _short(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` → `func (pkg/mod.py:12)`."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    path = where.rstrip(")")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = path.split("/", 1)[1] if "/" in path else path
            break
    return f"{name} ({path})"
