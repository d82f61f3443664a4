"""Driving wrk: a Lua script per load shape, results parsed from one JSON line it prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import pin

# Printed by every script's done(): latency in µs, duration in µs.
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": %d, "non_2xx": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors and timeouts
    non_2xx: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def lua_string(text: str | bytes) -> str:
    """A Lua long-bracket literal holding `text` verbatim."""
    raw = text.decode() if isinstance(text, bytes) else text
    level = 0
    while f"]{'=' * level}]" in raw:
        level += 1
    eq = "=" * level
    return f"[{eq}[{raw}]{eq}]"


def post_json(body: bytes, headers: dict[str, str] | None = None) -> str:
    """The same JSON POST on every request (no Lua runs per request: wrk's fastest mode)."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        lines.append(f"wrk.headers[ {lua_string(name)} ] = {lua_string(value)}")
    return "\n".join(lines)


def get(headers: dict[str, str] | None = None) -> str:
    return "\n".join(
        f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in (headers or {}).items()
    )


def unique_text_posts(prefix: str) -> str:
    """A JSON POST whose text differs on every request: every one is a cache miss."""
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local lead = {lua_string(prefix)}
request = function()
  n = n + 1
  local body = '{{"text": "' .. lead .. ' Request number ' .. n .. ' is unique. ' ..
    'A cache keeps the result of expensive work so the next request gets it at once."}}'
  return wrk.format(nil, nil, nil, body)
end
"""


def run(
    url: str,
    script: str = "",
    *,
    seconds: float,
    connections: int = 64,
    threads: int = 1,
    cpus: Sequence[int] = (),
    timeout_s: int = 5,
) -> WrkResult:
    """Run wrk against `url` for `seconds` and return what it measured."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (make bench installs it: apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + "\n" + _DONE)
        path = Path(f.name)
    try:
        argv = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(path),
            url,
        ]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        pin(proc.pid, cpus)
        out, _ = proc.communicate(timeout=seconds + timeout_s + 30)
    finally:
        path.unlink(missing_ok=True)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"],
        non_2xx=data["non_2xx"],
    )
