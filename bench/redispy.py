"""Why one redis-py is faster than another: the same client work, measured across versions.

    .venv/bin/python -m bench.redispy [--versions 5.0.1,8.1.0] [--no-http] [--no-profile]

For each version it builds (once) a throwaway virtualenv /tmp/threadr-redispy-<version> with
that redis-py and this venv's versions of hiredis, uvloop, Starlette and uvicorn — never
touching .venv — then, against one throwaway Redis on loopback:

1. client cost per GET and per 2-command pipeline for each preset of bench/redisopts.py
   (bench/redisclient.py, pinned to the server CPU);
2. the bare reference app (bench/reference.py) under wrk with the "defaults" and "service"
   presets, versions alternating;
3. a py-spy profile of the reference app per version under that load.

Writes bench/results/redispy.json and prints the tables.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from redis import Redis

from bench import measure, profile, wrk
from bench.procs import HOST, ROOT, Procs, free_port, pin, split_cores
from bench.reference import REFERENCE_KEY, reference_argv
from bench.servers import redis_argv

RESULTS = ROOT / "bench" / "results" / "redispy.json"
SAME_AS_VENV = ("hiredis", "uvloop", "starlette", "uvicorn", "httptools", "anyio")


def venv_for(version: str, base: str) -> Path:
    """/tmp/threadr-redispy-<version>-py<X.Y>/bin/python, built on first use from `base`."""
    tag = subprocess.run(
        [base, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    home = Path(tempfile.gettempdir()) / f"threadr-redispy-{version}-py{tag}"
    py = home / "bin" / "python"
    if py.exists():
        return py
    subprocess.run([base, "-m", "venv", str(home)], check=True)
    pins = [f"{n}=={importlib.metadata.version(n)}" for n in SAME_AS_VENV]
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", f"redis=={version}", *pins], check=True
    )
    return py


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default=f"5.0.1,{importlib.metadata.version('redis')}")
    parser.add_argument("--presets", default="", help="client presets (default: all)")
    parser.add_argument("--http-presets", default="defaults,service")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--python",
        default=getattr(sys, "_base_executable", sys.executable),
        help="interpreter for the throwaway venvs (default: the one under .venv)",
    )
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--calls-only", action="store_true", help="only count calls per command")
    parser.add_argument("--output", default=RESULTS.name, help="file name in bench/results/")
    args = parser.parse_args(argv)
    versions = args.versions.split(",")
    pythons = {v: venv_for(v, args.python) for v in versions}
    cores = split_cores()
    result: dict[str, Any] = {
        "versions": versions,
        "python": subprocess.run(
            [args.python, "-VV"], capture_output=True, text=True, check=True
        ).stdout.strip(),
        "calls": {},
        "client": {},
        "http": {},
        "profile": {},
    }

    with Procs(Path(tempfile.mkdtemp(prefix="threadr-redispy-logs-"))) as procs:
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="threadr-redispy-redis-"))
        procs.start("redis", redis_argv(port, workdir), cpus=cores.load, port=port)
        url = f"redis://{HOST}:{port}/0"
        redis = Redis.from_url(url)
        redis.set(REFERENCE_KEY, b'{"thread":[]}' + b" " * 600)

        for v, py in pythons.items():
            argv_ = [str(py), "-m", "bench.redisclient", "--url", url]
            if args.presets:
                argv_ += ["--presets", args.presets]
            print(f"client cost, redis-py {v} …", flush=True)
            result["calls"][v] = _worker([*argv_, "--count-calls", "--ops", "6400"], cores)["calls"]
            if not args.calls_only:
                result["client"][v] = _worker(argv_, cores)["results"]

        if not args.no_http and not args.calls_only:
            result["http"] = _http(procs, pythons, args, url, redis, cores)
        if not args.no_profile and not args.calls_only:
            result["profile"] = _profiles(procs, pythons, url, cores)

    RESULTS.with_name(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


def _worker(argv: list[str], cores: Any) -> dict[str, Any]:
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pin(proc.pid, cores.server)
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


def _reference(procs: Procs, py: Path, url: str, preset: str, name: str) -> tuple[int, int]:
    port = free_port()
    argv = reference_argv(str(py), port)
    env = {"REDIS_URL": url, "REFERENCE_REDIS_PRESET": preset}
    proc = procs.start(name, argv, env=env, port=port)
    return port, proc.pid


def _http(
    procs: Procs, pythons: dict[str, Path], args: Any, url: str, redis: Redis, cores: Any
) -> dict[str, Any]:
    servers = {}
    for v, py in pythons.items():
        for preset in args.http_presets.split(","):
            name = f"{v} {preset}"
            servers[name] = _reference(procs, py, url, preset, f"ref-{v}-{preset}")
            pin(servers[name][1], cores.server)
    samples: dict[str, list[measure.Sample]] = defaultdict(list)
    post = wrk.post_json(b'{"text": "hello"}')
    names = list(servers)
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else reversed(names):
            port, pid = servers[name]
            print(f"http {name} run {rep + 1}", flush=True)
            samples[name].append(
                measure.run(
                    name,
                    pid,
                    f"http://{HOST}:{port}/api/generate",
                    post,
                    seconds=args.seconds,
                    warmup=1,
                    load_cpus=cores.load,
                    redis=redis,
                )
            )
    return {name: measure.median_of(runs) for name, runs in samples.items()}


def _profiles(procs: Procs, pythons: dict[str, Path], url: str, cores: Any) -> dict[str, Any]:
    out = {}
    for v, py in pythons.items():
        port, pid = _reference(procs, py, url, "defaults", f"prof-{v}")
        pin(pid, cores.server)
        path = Path(tempfile.gettempdir()) / f"threadr-redispy-{v}.collapsed"
        print(f"profile {v} …", flush=True)
        profile.record(
            pid,
            f"http://{HOST}:{port}/api/generate",
            wrk.post_json(b'{"text": "hello"}'),
            path,
            seconds=6,
            load_cpus=cores.load,
        )
        out[v] = profile.summarize(path, top=25)
    return out


def markdown(result: dict[str, Any]) -> str:
    versions = result["versions"]
    presets = list(result["calls"][versions[0]])
    lines = ["Python function calls per operation (cProfile; deterministic)", ""]
    lines.append("| preset | " + " | ".join(f"{v} GET | {v} pipe(2)" for v in versions) + " |")
    lines.append("|---|" + "---:|" * (2 * len(versions)))
    for preset in presets:
        cells = []
        for v in versions:
            r = result["calls"][v].get(preset, {})
            cells += [f"{r[op]['per_op']:g}" if op in r else "—" for op in ("get", "pipeline2")]
        lines.append(f"| {preset} | " + " | ".join(cells) + " |")
    if not result["client"]:
        return "\n".join(lines)
    lines += ["", "Client CPU µs per operation (64 tasks, one client; lower is better)", ""]
    lines.append("| preset | " + " | ".join(f"{v} GET | {v} pipe(2)" for v in versions) + " |")
    lines.append("|---|" + "---:|" * (2 * len(versions)))
    for preset in result["client"][versions[0]]:
        cells = []
        for v in versions:
            r = result["client"][v].get(preset, {})
            cells += [str(r.get(op, {}).get("cpu_us", "—")) for op in ("get", "pipeline2")]
        lines.append(f"| {preset} | " + " | ".join(cells) + " |")
    if result["http"]:
        lines += [
            "",
            "| bare reference app | req/s | p50 ms | p99 ms | CPU µs/req |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, row in result["http"].items():
            lines.append(
                f"| redis-py {name} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['cpu_us']:.0f} |"
            )
    for v, summary in result.get("profile", {}).items():
        lines += ["", f"py-spy, reference app, redis-py {v} ({summary['samples']} samples): self %"]
        lines += [f"    {p:5.1f}  {f}" for f, p in summary["self"][:12]]
        lines += ["  total %"]
        lines += [f"    {p:5.1f}  {f}" for f, p in summary["total"][:25]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
