"""`threadr check-config`: the Redis setup guide's troubleshooting steps as one command."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

from redis.asyncio import RedisCluster
from redis.exceptions import AuthenticationError, RedisClusterException, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .config import Settings, unverified_tls_options
from .storage.client import create_redis
from .storage.stats import eviction_warnings

_TIMEOUT = 10.0


# A finding: True fine, False a problem (check-config exits 1), None a note; WARNING a risk the
# settings knowingly allow (the exit status stays 0).
WARNING: Literal["warning"] = "warning"
Finding = bool | Literal["warning"] | None
Say = Callable[[Finding, str], None]
_MARKS: dict[Finding, str] = {
    True: "ok     ",
    False: "PROBLEM",
    None: "note   ",
    WARNING: "WARNING",
}


def line_printer() -> Say:
    """Reports one finding per line on stdout: `[ok     ]`, `[PROBLEM]`, `[WARNING]` or
    `[note   ]`, then words."""

    def say(ok: Finding, what: str) -> None:
        sys.stdout.write(f"[{_MARKS[ok]}] {what}\n")

    return say


async def check_redis(settings: Settings, say: Say | None = None) -> bool:
    """Connect, authenticate and PING; explain the usual failures in plain words, and warn of
    an eviction policy that may drop keys the service must keep."""
    say = say or line_printer()
    if not settings.redis_url:
        say(
            None,
            "REDIS_URL is not set: caching, rate limits and quotas use in-memory stores "
            "(per process, lost on restart).",
        )
        return True
    url = settings.redis_url
    where = urlsplit(url)
    target = f"{where.scheme}://{where.hostname}:{where.port or 6379}"
    if where.scheme == "rediss":
        unverified = ["REDIS_TLS_INSECURE=true"] if settings.redis_tls_insecure else []
        unverified += [f"{option} in REDIS_URL" for option in unverified_tls_options(url)]
        if unverified:
            say(
                WARNING,
                f"{' and '.join(unverified)}: TLS is on, but the server certificate is not "
                "verified, so anyone on the network path can read and change the data. Set "
                "REDIS_SSL_CA_CERTS to the provider's CA bundle instead.",
            )
    redis = create_redis(settings)
    assert redis is not None
    try:
        async with asyncio.timeout(_TIMEOUT):
            await redis.ping()
            info = await redis.info("server")
            cluster_mode = (await redis.info("cluster")).get("cluster_enabled")
            memory = await redis.info("memory")
    except AuthenticationError:
        say(
            False,
            f"Redis at {target} refused the password: check the user and password in "
            "REDIS_URL (redis://default:PASSWORD@host:port).",
        )
    except ssl.SSLCertVerificationError as exc:
        say(
            False,
            f"Redis at {target}: the TLS certificate could not be verified ({exc}). "
            "Set REDIS_SSL_CA_CERTS to your provider's CA bundle.",
        )
    except (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError) as exc:
        hint = (
            "a rediss:// URL needs TLS on the server"
            if where.scheme == "rediss"
            else ("if the provider requires TLS (Upstash does), use rediss://")
        )
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            say(
                False,
                f"Redis at {target}: the TLS certificate could not be verified "
                f"({cause.verify_message}). Set REDIS_SSL_CA_CERTS to the CA bundle.",
            )
        else:
            say(
                False,
                f"Cannot reach Redis at {target} ({exc or type(exc).__name__}). Check "
                f"the host and port, the network between them, and {hint}.",
            )
    except RedisClusterException as exc:  # REDIS_CLUSTER=true: no node answers, or none is one
        say(
            False,
            f"REDIS_CLUSTER=true, but no Redis Cluster answers at {target} ({exc}). Check the "
            "host and port, or unset REDIS_CLUSTER for a single Redis.",
        )
    except ResponseError as exc:
        say(False, f"Redis at {target} answered with an error: {exc}.")
    except RedisError as exc:
        say(False, f"Redis at {target} failed: {exc}.")
    else:
        say(True, f"Redis at {target} answers PING (Redis {info.get('redis_version', '?')}).")
        if isinstance(redis, RedisCluster):
            primaries = len(redis.get_primaries())
            say(True, f"Redis Cluster: {primaries} primaries, learnt from {target}.")
        elif cluster_mode in (1, "1"):
            say(
                False,
                f"Redis at {target} is a Redis Cluster node: set REDIS_CLUSTER=true, or keys "
                "kept by its other nodes answer MOVED and are served from memory.",
            )
            return False
        policy = memory.get("maxmemory_policy")
        for warning in eviction_warnings(None if policy is None else str(policy)):
            say(WARNING, warning)
        return True
    finally:
        await redis.aclose()
    return False


async def check_openai(settings: Settings, say: Say | None = None) -> bool:
    say = say or line_printer()
    if not settings.openai_api_key:
        say(None, "OPENAI_API_KEY is not set: threads come from the offline writer.")
        return True
    import openai

    from .writing.openai_writer import create_openai_client

    client = create_openai_client(settings.openai_api_key, settings.openai_base_url)
    try:
        async with asyncio.timeout(_TIMEOUT):
            await client.models.retrieve(settings.openai_model)
    except openai.AuthenticationError:
        say(False, "OpenAI rejected OPENAI_API_KEY (401): create a new key and set it again.")
    except openai.NotFoundError:
        say(
            False,
            f"OpenAI does not offer the model {settings.openai_model!r} to this key: "
            "check OPENAI_MODEL.",
        )
    except (openai.OpenAIError, TimeoutError) as exc:
        say(
            False,
            f"Cannot reach OpenAI ({type(exc).__name__}: {exc}); threads will fall "
            "back to the offline writer until it answers.",
        )
    else:
        say(True, f"OpenAI accepts the key and offers {settings.openai_model!r}.")
        return True
    finally:
        await client.close()
    return False


async def check_config(settings: Settings) -> int:
    """Print one line per check; exit status 0 when nothing is wrong, 1 otherwise."""
    say = line_printer()
    say(True, f"Settings are valid (ENVIRONMENT={settings.environment}, port {settings.port}).")
    if settings.production and not settings.cors_origins:
        say(None, "CORS_ORIGINS is empty: browsers on other origins cannot call the API.")
    redis_ok, openai_ok = await asyncio.gather(
        check_redis(settings, say), check_openai(settings, say)
    )
    sys.stdout.flush()
    return 0 if redis_ok and openai_ok else 1
