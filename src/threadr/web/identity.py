"""Who is asking: the key under which limits and quotas count a request."""

from __future__ import annotations

from starlette.types import Scope


def client_host(scope: Scope) -> str:
    """The client IP as uvicorn reports it after trusted-proxy handling (FORWARDED_ALLOW_IPS),
    so a raw X-Forwarded-For from anyone else is never believed."""
    client = scope.get("client")
    return client[0] if client else "unknown"
