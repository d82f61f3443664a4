"""A handler's context: the collaborators the lifespan built (threadr.services.Services)."""

from __future__ import annotations

from starlette.requests import Request

from threadr.services import Services


def services(request: Request) -> Services:
    # From the scope: `request.state` would build a wrapper object on every call.
    state: Services = request.scope["state"]["threadr"]
    return state
