"""How a setting is declared (`setting`: its variable, default and bounds, on its field) and
the converters that check one item of a list-valued setting."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

# Settings whose values are never shown: not by repr(), not in a problem's sentence.
SECRETS = frozenset(
    {
        "redis_url",
        "openai_api_key",
        "api_keys",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "metrics_token",
    }
)


def setting(
    env: str | tuple[str, ...],
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    choices: tuple[str, ...] = (),
    each: Callable[[str], Any] | None = None,
    in_production: Any = None,
) -> Any:
    """A setting read from `env` (the first of several names that is set). `lo`/`hi` bound a
    number, `choices` a word, `each` converts every item of a comma-separated list;
    `in_production` replaces the default when ENVIRONMENT=production."""
    names = (env,) if isinstance(env, str) else env
    spec = dict(env=names, lo=lo, hi=hi, choices=choices, each=each, in_production=in_production)
    return dataclasses.field(default=default, metadata=spec)


def port_number(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError("a port is a number from 1 to 65535")
    return port


def domain_pattern(raw: str) -> str:
    name = raw.lower().rstrip(".")
    bare = name[2:] if name.startswith("*.") else name
    if not bare or "*" in bare or "/" in bare or ":" in bare or "." not in bare:
        raise ValueError("use exact host names or *.suffix patterns, e.g. example.com,*.blog.org")
    return name


def origin(raw: str) -> str:
    if raw == "*":
        return raw
    if not raw.startswith(("http://", "https://")) or raw.rstrip("/").count("/") > 2:
        raise ValueError("an origin looks like https://app.example.com (scheme, host, no path)")
    return raw.rstrip("/")


def api_key(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("each API key must be at least 16 characters long")
    return raw
