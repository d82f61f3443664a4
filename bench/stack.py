"""Everything one benchmark run serves: Redis, the mocks, the service instances, the reference.

Service instances (`threadr serve` exactly as deployed: uvicorn with uvloop and httptools, both
installed; one worker unless named), all on one throwaway Redis:

- `prod`: the headline. Production as a new deployment with a frontend runs it
  (ENVIRONMENT=production, CORS_ORIGINS and API_KEYS set, access log off), rate limiter and
  free-tier quota ON with limits far above what the load reaches (so nothing is denied, but
  every request pays for the accounting), analytics and metrics on (their defaults);
- `prod2w`: `prod` with `--workers 2` (every core: not pinned, see scenarios.workers);
- `on`: `prod` without CORS_ORIGINS and API_KEYS (the headline of the rounds before issue #16);
- `off`: `on` with RATE_LIMIT_ENABLED=false;
- `noanalytics`: `on` with ANALYTICS_ENABLED=false (what usage analytics cost a hit);
- `nometrics`: `on` with METRICS_ENABLED=false (what /metrics' counting costs a hit);
- `miss`: `prod`, but development (so it may fetch from the local article site: production
  refuses FETCH_ALLOW_PRIVATE_NETWORKS), for cold misses and the mixed load;
- `defaults`: production with the default limits on Redis DB 1, for Redis memory per identity.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from bench.procs import HOST, Cores, Procs, free_port, pin, python
from bench.reference import reference_argv
from bench.servers import redis_argv

HUGE = "1000000000"  # limits no benchmark reaches: the limiter runs, and never denies
OPENAI_KEY = "sk-bench-not-a-real-key"
# What a deployment with a frontend sets besides ENVIRONMENT=production (issue #16: the headline
# configuration): the browser origin of the frontend, and an operator's API key.
FRONTEND = "https://app.example.com"
PRODUCTION = {"CORS_ORIGINS": FRONTEND, "API_KEYS": "bench-operator-key-not-a-secret"}
WORKERS = {"prod2w": 2}  # instances of more than one process (`threadr serve --workers N`)


@dataclass(slots=True)
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    workers: int = 1

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "") -> str:
        return f"http://{HOST}:{self.port}{path}"


@dataclass(slots=True)
class Stack:
    cores: Cores
    redis_url: str
    redis: Redis
    openai: Server
    articles: Server
    services: dict[str, Server] = field(default_factory=dict)
    reference: Server | None = None
    session_token: str | None = None  # a signed-in account's on `prod` (scenarios.prepare)


def service_env(kind: str, redis_url: str, openai: Server, articles: Server) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "production",
        "ACCESS_LOG": "false",
        "REDIS_URL": redis_url,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai.url("/v1"),
        "OPENAI_TIMEOUT_SECONDS": "20",
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_BURST": HUGE,
        "RATE_LIMIT_REQUESTS": HUGE,
        "RATE_LIMIT_PREMIUM_REQUESTS": HUGE,
        "FREE_TIER_ENABLED": "true",
        "FREE_TIER_DAILY_LIMIT": HUGE,
        "FREE_TIER_MONTHLY_LIMIT": HUGE,
    }
    if kind in ("prod", "prod2w", "miss"):
        env |= PRODUCTION
    if kind == "off":
        env["RATE_LIMIT_ENABLED"] = "false"
    elif kind == "noanalytics":
        env["ANALYTICS_ENABLED"] = "false"
    elif kind == "nometrics":
        env["METRICS_ENABLED"] = "false"
    elif kind == "miss":
        env |= {
            "ENVIRONMENT": "development",
            "FETCH_ALLOW_PRIVATE_NETWORKS": "true",
            "FETCH_ALLOWED_PORTS": f"80,443,{articles.port}",
        }
    elif kind == "defaults":
        env["REDIS_URL"] = redis_url.rsplit("/", 1)[0] + "/1"  # its keys alone, to be measured
        for name in list(env):
            if name.startswith(("RATE_LIMIT_", "FREE_TIER_")):
                del env[name]
    return env


def start(
    procs: Procs,
    cores: Cores,
    *,
    services: tuple[str, ...] = (
        "prod",
        "prod2w",
        "on",
        "off",
        "noanalytics",
        "nometrics",
        "miss",
        "defaults",
    ),
    reference: bool = True,
    openai_delay: float = 0.05,
) -> Stack:
    """Start Redis, the mocks and the servers; `procs` stops them all when its block ends."""
    redis_port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="threadr-bench-redis-"))
    procs.start("redis", redis_argv(redis_port, workdir), cpus=cores.load, port=redis_port)
    redis_url = f"redis://{HOST}:{redis_port}/0"
    redis = Redis.from_url(redis_url)

    def helper(kind: str, *extra: str) -> Server:
        port = free_port()
        argv = [python(), "-m", "bench.servers", kind, "--port", str(port), *extra]
        return Server(kind, port, procs.start(kind, argv, cpus=cores.load, port=port))

    openai = helper("openai", "--delay", str(openai_delay))
    articles = helper("articles")
    stack = Stack(cores, redis_url, redis, openai, articles)

    started: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    for kind in services:  # start all, then wait: they import in parallel
        port = free_port()
        argv = [python(), "-m", "threadr.cli", "serve", "--host", HOST, "--port", str(port)]
        argv += ["--workers", str(WORKERS.get(kind, 1))]
        env = service_env(kind, redis_url, openai, articles)
        started.append((kind, port, procs.start(kind, argv, env=env)))
    if reference:
        port = free_port()
        argv = reference_argv(python(), port)
        env = {"REDIS_URL": redis_url}
        proc = procs.start("reference", argv, env=env)
        started.append(("reference", port, proc))
    for name, port, proc in started:
        procs.wait_port(name, proc, port, timeout=30)
        workers = WORKERS.get(name, 1)
        if workers == 1:
            pin(proc.pid, cores.server)  # after start-up, so that they import on every core
        server = Server(name, port, proc, workers)
        if name == "reference":
            stack.reference = server
        else:
            stack.services[name] = server
    return stack
