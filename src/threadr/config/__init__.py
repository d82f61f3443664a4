"""The service's settings (settings.py), read from the environment (parser.py) and judged as a
whole (rules.py); every variable is documented in docs/configuration.md."""

from .rules import unverified_tls_options
from .settings import (
    ENVIRONMENTS,
    LOG_FORMATS,
    RAILWAY_CLIENT_IP_HEADER,
    RAILWAY_VARIABLES,
    Settings,
)

__all__ = [
    "ENVIRONMENTS",
    "LOG_FORMATS",
    "RAILWAY_CLIENT_IP_HEADER",
    "RAILWAY_VARIABLES",
    "Settings",
    "unverified_tls_options",
]
