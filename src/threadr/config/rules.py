"""The rules a whole set of values must keep: each field's bounds and choices, and the ones that
span fields or read a URL (Redis TLS and Cluster, CLIENT_IP_HEADER, Stripe, private networks).
They hold for settings built in code as well as from the environment."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from threadr.errors import ConfigError

from .fields import SECRETS

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token


def problems(fields: Iterable[dataclasses.Field[Any]], values: Mapping[str, Any]) -> list[str]:
    """A sentence for every value its field's rules refuse (whatever the values came from)."""
    problems = []
    for f in fields:
        spec, value, name = f.metadata, values[f.name], f.metadata["env"][0]
        if spec["lo"] is not None and not spec["lo"] <= value <= spec["hi"]:
            shown = f"{value:g}" if isinstance(value, float) else f"{value}"
            problems.append(
                f"{name} must be between {spec['lo']:g} and {spec['hi']:g}, not {shown}."
            )
        if spec["choices"] and value not in spec["choices"]:
            problems.append(f"{name} must be one of {', '.join(spec['choices'])}, not {value!r}.")
        for item in value if spec["each"] else ():
            try:
                spec["each"](str(item))
            except ValueError as exc:
                shown = "an entry" if f.name in SECRETS else repr(item)
                problems.append(f"{name}: {shown} is not valid ({exc}).")
    redis_url = values["redis_url"]
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append(
            "REDIS_URL (or REDIS_PRIVATE_URL) must start with redis://, rediss:// or unix:// "
            "(e.g. rediss://default:password@host:6379)."
        )
    elif redis_url is not None:
        problems += _redis_tls_problems(redis_url, insecure=values["redis_tls_insecure"])
    if values["redis_cluster"]:
        problems += _redis_cluster_problems(redis_url)
    header = values["client_ip_header"]
    if header is not None and not _HEADER_NAME.fullmatch(header):
        problems.append(
            "CLIENT_IP_HEADER must be a header name (e.g. x-forwarded-for) or none, "
            f"not {header!r}."
        )
    if values["metrics_token"] is not None and len(values["metrics_token"]) < 16:
        problems.append("METRICS_TOKEN must be at least 16 characters long.")
    if values["session_ttl_days"] > values["session_max_days"]:
        problems.append("SESSION_TTL_DAYS cannot be longer than SESSION_MAX_DAYS.")
    stripe_api_base = values["stripe_api_base"]
    if (
        values["environment"] == "production"
        and stripe_api_base
        and not stripe_api_base.startswith("https://")
    ):
        problems.append(
            "STRIPE_API_BASE must start with https:// when ENVIRONMENT=production: the Stripe "
            "secret key is sent there. Leave it unset to use https://api.stripe.com."
        )
    if values["environment"] == "production" and values["fetch_allow_private_networks"]:
        problems.append(
            "FETCH_ALLOW_PRIVATE_NETWORKS=true is for local tests only and is refused when "
            "ENVIRONMENT=production."
        )
    return problems


def unverified_tls_options(redis_url: str) -> list[str]:
    """`name=value` of each query option of a Redis URL that turns TLS certificate checks off.

    redis-py applies a URL's options over the client's own (storage/client.py), so these beat
    REDIS_TLS_INSECURE=false; they are read as redis-py reads them (the first of each name,
    its words for "none" and for false), which tests/storage/test_client.py holds it to."""
    options = _url_options(redis_url)
    found = []
    if options.get("ssl_cert_reqs") in ("none", "optional"):
        found.append(f"ssl_cert_reqs={options['ssl_cert_reqs']}")
    if options.get("ssl_check_hostname", "").upper() in ("0", "F", "FALSE", "N", "NO"):
        found.append(f"ssl_check_hostname={options['ssl_check_hostname']}")
    return found


def _url_options(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url).query
    except ValueError:  # e.g. an unclosed [IPv6]: redis-py cannot parse it either, so no options
        return {}
    return {name: values[0] for name, values in parse_qs(query).items()}


def _redis_tls_problems(redis_url: str, *, insecure: bool) -> list[str]:
    # Only the options are named: the URL itself may hold a password.
    if not redis_url.startswith("rediss://"):
        tls_options = sorted(name for name in _url_options(redis_url) if name.startswith("ssl_"))
        if not tls_options:
            return []
        return [
            f"REDIS_URL (or REDIS_PRIVATE_URL) has TLS options ({', '.join(tls_options)}) but "
            "is not a rediss:// URL: use rediss:// or remove them."
        ]
    off = unverified_tls_options(redis_url)
    if not off or insecure:
        return []
    return [
        f"REDIS_URL (or REDIS_PRIVATE_URL) turns TLS certificate verification off "
        f"({', '.join(off)}), so anyone on the network path could read and change the data. "
        "Remove it (REDIS_SSL_CA_CERTS trusts a private CA), or set REDIS_TLS_INSECURE=true "
        "to accept that knowingly."
    ]


def _redis_cluster_problems(redis_url: str | None) -> list[str]:
    # Only the parts are named: the URL itself may hold a password.
    if redis_url is None:
        return ["REDIS_CLUSTER=true needs REDIS_URL naming any node of the cluster."]
    if redis_url.startswith("unix://"):
        return [
            "REDIS_CLUSTER=true: a cluster is reached over TCP, so REDIS_URL must be redis:// "
            "or rediss://, not unix://."
        ]
    try:
        path = urlsplit(redis_url).path
    except ValueError:
        return []  # redis-py refuses it at start-up, in its own words
    db = path.strip("/") or _url_options(redis_url).get("db", "0")
    if db == "0":
        return []
    return [
        f"REDIS_CLUSTER=true: a cluster has database 0 only, so REDIS_URL cannot name database "
        f"{db}; remove /{db} from it."
    ]


def raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError("Invalid configuration:\n" + "\n".join(f"  - {m}" for m in problems))
