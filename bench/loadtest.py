"""`make loadtest`: locustfile.py, headless and bounded, against a local instance started here.

    .venv/bin/python -m bench.loadtest [--seconds 30] [--users 50] [--spawn-rate 10]

The instance runs as `make run` does (memory stores, the offline writer) plus
FETCH_ALLOW_PRIVATE_NETWORKS=true so generate-by-URL can fetch from a local article server
(bench/servers.py); limits are raised so the run exercises generation rather than 429s. Prints
locust's summary; every process started here is stopped at the end, errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.procs import HOST, ROOT, Procs, base_env, free_port, pin, python, split_cores
from bench.stack import HUGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    args = parser.parse_args(argv)
    cores = split_cores()
    locust = Path(sys.executable).with_name("locust")
    if not locust.exists():
        print("locust is not installed: make loadtest installs the `bench` extra", file=sys.stderr)
        return 2

    with Procs(Path(tempfile.mkdtemp(prefix="threadr-loadtest-"))) as procs:
        articles = free_port()
        procs.start(
            "articles",
            [python(), "-m", "bench.servers", "articles", "--port", str(articles)],
            cpus=cores.load,
            port=articles,
        )
        port = free_port()
        env = {
            "ENVIRONMENT": "development",
            "ACCESS_LOG": "false",
            "FETCH_ALLOW_PRIVATE_NETWORKS": "true",
            "FETCH_ALLOWED_PORTS": f"80,443,{articles}",
            "RATE_LIMIT_BURST": HUGE,
            "RATE_LIMIT_REQUESTS": HUGE,
            "FREE_TIER_DAILY_LIMIT": HUGE,
            "FREE_TIER_MONTHLY_LIMIT": HUGE,
        }
        server = procs.start(
            "threadr",
            [python(), "-m", "threadr.cli", "serve", "--host", HOST, "--port", str(port)],
            env=env,
            port=port,
            timeout=30,
        )
        pin(server.pid, cores.server)
        urls = ",".join(f"http://{HOST}:{articles}/articles/{n}.html" for n in range(1, 11))
        argv_ = [
            str(locust),
            "-f",
            str(ROOT / "locustfile.py"),
            "--headless",
            "--only-summary",
            "--host",
            f"http://{HOST}:{port}",
            "--users",
            str(args.users),
            "--spawn-rate",
            str(args.spawn_rate),
            "--run-time",
            f"{args.seconds}s",
            "--stop-timeout",
            "5",
            "--loglevel",
            "WARNING",
        ]
        print(
            f"locust: {args.users} users for {args.seconds} s against {HOST}:{port} …", flush=True
        )
        proc = subprocess.Popen(argv_, cwd=ROOT, env={**base_env(), "LOADTEST_ARTICLE_URLS": urls})
        pin(proc.pid, cores.load)
        try:
            code = proc.wait(timeout=args.seconds + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # locust exits 1 when any request failed; say so rather than hide it.
        if code != 0:
            print(f"locust reported failures (exit {code}); server log: {procs.log_dir}")
        return code


if __name__ == "__main__":
    sys.exit(main())
