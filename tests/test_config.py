"""Settings: defaults that need nothing, every problem listed at once, secrets never shown."""

import dataclasses
import re
from pathlib import Path

import pytest

from threadr.config import Settings
from threadr.errors import ConfigError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_defaults_need_no_variable() -> None:
    s = Settings.from_env({})
    assert s.environment == "development"
    assert (s.port, s.redis_url, s.openai_api_key) == (8000, None, None)
    assert s.cache_ttl_seconds == 24 * 3600
    assert (s.max_content_length, s.max_body_bytes, s.max_thread_tweets) == (10_000, 65_536, 25)
    assert s.fetch_allowed_ports == (80, 443)
    assert s.access_log is True


def test_production_needs_nothing_else_and_turns_access_log_off() -> None:
    s = Settings.from_env({"ENVIRONMENT": "production"})
    assert s.production
    assert s.access_log is False


def test_lists_are_split_and_stripped() -> None:
    s = Settings.from_env(
        {
            "CORS_ORIGINS": " https://a.example.com/ , https://b.example.com,,",
            "API_KEYS": " k" + "x" * 20 + " ,",
            "ALLOWED_DOMAINS": "Example.com, *.Blog.org",
        }
    )
    assert s.cors_origins == ("https://a.example.com", "https://b.example.com")
    assert s.api_keys == ("k" + "x" * 20,)
    assert s.allowed_domains == ("example.com", "*.blog.org")


def test_redis_private_url_is_the_fallback() -> None:
    assert Settings.from_env({"REDIS_PRIVATE_URL": "redis://h:1"}).redis_url == "redis://h:1"
    both = {"REDIS_URL": "redis://a:1", "REDIS_PRIVATE_URL": "redis://b:1"}
    assert Settings.from_env(both).redis_url == "redis://a:1"


def test_every_problem_is_listed_at_once() -> None:
    env = {
        "ENVIRONMENT": "prod",
        "PORT": "eighty",
        "CACHE_TTL_HOURS": "-1",
        "DEBUG": "maybe",
        "REDIS_URL": "http://nope",
        "FETCH_ALLOWED_PORTS": "80,70000",
        "CORS_ORIGINS": "example.com",
        "MAX_THREAD_TWEETS": "1",
    }
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    for name in (
        "ENVIRONMENT",
        "PORT",
        "CACHE_TTL_HOURS",
        "DEBUG",
        "REDIS_URL",
        "FETCH_ALLOWED_PORTS",
        "CORS_ORIGINS",
        "MAX_THREAD_TWEETS",
    ):
        assert name in message


def test_private_fetching_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="FETCH_ALLOW_PRIVATE_NETWORKS"):
        Settings.from_env({"ENVIRONMENT": "production", "FETCH_ALLOW_PRIVATE_NETWORKS": "true"})


def test_stripe_api_base_must_be_https_in_production() -> None:
    """The secret key goes wherever STRIPE_API_BASE points: never in clear, in production."""
    for base in ("http://api.stripe.com", "ftp://x", "api.stripe.com", "HTTP://x"):
        with pytest.raises(ConfigError, match="STRIPE_API_BASE must start with https://"):
            Settings.from_env({"ENVIRONMENT": "production", "STRIPE_API_BASE": base})
    secure = {"ENVIRONMENT": "production", "STRIPE_API_BASE": "https://stripe.internal"}
    assert Settings.from_env(secure).stripe_api_base == "https://stripe.internal"
    local = Settings.from_env({"STRIPE_API_BASE": "http://127.0.0.1:12111"})
    assert local.stripe_api_base == "http://127.0.0.1:12111"  # a local stand-in, in tests


def test_secrets_never_show_in_repr_or_errors() -> None:
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://:hunter2@h:6379",
            "OPENAI_API_KEY": "sk-secret",
            "API_KEYS": "a-very-long-admin-key-123",
        }
    )
    text = repr(s)
    assert "hunter2" not in text and "sk-secret" not in text and "admin-key" not in text
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"API_KEYS": "short-secret"})
    assert "short-secret" not in str(info.value)


def test_every_variable_is_documented_once() -> None:
    table = [
        line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("| `")
    ]
    documented = [line.split("`")[1] for line in table]
    variables = [name for f in dataclasses.fields(Settings) for name in f.metadata["env"]]
    assert sorted(documented) == sorted(variables)


def test_a_default_is_the_fields_own() -> None:
    assert Settings.from_env({}) == Settings()


def test_settings_built_in_code_are_bounded_too() -> None:
    with pytest.raises(ConfigError, match="RATE_LIMIT_REQUESTS must be between 1"):
        Settings(rate_limit_requests=0)
    with pytest.raises(ConfigError, match="REDIS_TIMEOUT_SECONDS"):
        dataclasses.replace(Settings(), redis_timeout_seconds=0.0)


def test_the_ipv6_prefix_is_bounded() -> None:
    assert Settings.from_env({}).rate_limit_ipv6_prefix == 64
    assert Settings.from_env({"RATE_LIMIT_IPV6_PREFIX": "48"}).rate_limit_ipv6_prefix == 48
    for bad in ("31", "129", "64.5"):
        with pytest.raises(ConfigError, match="RATE_LIMIT_IPV6_PREFIX"):
            Settings.from_env({"RATE_LIMIT_IPV6_PREFIX": bad})


@pytest.mark.parametrize(
    "option",
    [
        "ssl_cert_reqs=none",
        "ssl_cert_reqs=optional",
        "ssl_check_hostname=false",
        "ssl_check_hostname=0",
        "ssl_check_hostname=No",
    ],
)
def test_a_redis_url_cannot_turn_tls_verification_off_on_its_own(option: str) -> None:
    """redis-py applies a URL's query options over the client's own, so `?ssl_cert_reqs=none`
    would switch certificate checks off without REDIS_TLS_INSECURE saying so."""
    url = f"rediss://default:hunter2@redis.example.com:6379/0?{option}"
    with pytest.raises(ConfigError, match="REDIS_TLS_INSECURE=true") as info:
        Settings.from_env({"REDIS_URL": url})
    assert option in str(info.value) and "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="REDIS_TLS_INSECURE"):
        Settings(redis_url=url)  # built in code too
    assert Settings.from_env({"REDIS_URL": url, "REDIS_TLS_INSECURE": "true"}).redis_url == url


def test_redis_url_options_that_keep_tls_verified_are_fine() -> None:
    url = "rediss://h:6379/0?ssl_cert_reqs=required&ssl_check_hostname=true&db=1"
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize("scheme", ["redis://h:6379/0", "unix:///run/redis.sock"])
def test_tls_options_need_a_rediss_url(scheme: str) -> None:
    """Without TLS, redis-py's connection refuses ssl_* options at the first command."""
    with pytest.raises(ConfigError, match=r"TLS options \(ssl_cert_reqs\) but is not a rediss://"):
        Settings.from_env({"REDIS_URL": f"{scheme}?ssl_cert_reqs=required"})


def test_connection_bounds_for_serve() -> None:
    s = Settings.from_env({})
    assert (s.keep_alive_seconds, s.max_connections) == (5, 1000)
    assert (s.header_timeout_seconds, s.max_header_bytes, s.web_concurrency) == (10, 65_536, 1)
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "KEEP_ALIVE_SECONDS": "0",
                "MAX_CONNECTIONS": "none",
                "HEADER_TIMEOUT_SECONDS": "0",
                "MAX_HEADER_BYTES": "100",
                "WEB_CONCURRENCY": "0",
            }
        )
    for name in (
        "KEEP_ALIVE_SECONDS",
        "MAX_CONNECTIONS",
        "HEADER_TIMEOUT_SECONDS",
        "MAX_HEADER_BYTES",
        "WEB_CONCURRENCY",
    ):
        assert name in str(info.value)


def test_the_client_ip_header_is_a_header_name() -> None:
    with pytest.raises(ConfigError, match="CLIENT_IP_HEADER must be a header name"):
        Settings.from_env({"CLIENT_IP_HEADER": "X-Forwarded-For: 1.2.3.4"})


@pytest.mark.parametrize(
    "url", ["redis://node-1:7000", "rediss://default:pw@node-1:7000/0", "redis://h:7000/?db=0"]
)
def test_redis_cluster_names_any_node(url: str) -> None:
    settings = Settings.from_env({"REDIS_URL": url, "REDIS_CLUSTER": "true"})
    assert settings.redis_cluster and not Settings.from_env({}).redis_cluster


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "REDIS_CLUSTER=true needs REDIS_URL"),
        ({"REDIS_URL": "unix:///run/redis.sock"}, "must be redis:// or rediss://"),
        ({"REDIS_URL": "redis://:secret@h:7000/3"}, "cannot name database 3; remove /3"),
        ({"REDIS_URL": "redis://h:7000?db=2"}, "cannot name database 2"),
    ],
)
def test_redis_cluster_refuses_what_a_cluster_cannot_do(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as info:
        Settings.from_env({**env, "REDIS_CLUSTER": "true"})
    assert "secret" not in str(info.value)
def test_logs_are_json_in_production_and_text_in_development() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"ENVIRONMENT": "production"}).log_format == "json"
    chosen = Settings.from_env({"ENVIRONMENT": "production", "LOG_FORMAT": "TEXT"})
    assert chosen.log_format == "text"
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of text, json"):
        Settings.from_env({"LOG_FORMAT": "xml"})


def test_the_metrics_token_is_a_secret_of_some_length() -> None:
    s = Settings.from_env({"METRICS_TOKEN": "scrape-me-0123456789abcdef"})
    assert s.metrics_enabled and s.metrics_token == "scrape-me-0123456789abcdef"
    assert "scrape-me" not in repr(s)
    with pytest.raises(ConfigError, match="METRICS_TOKEN must be at least 16") as info:
        Settings.from_env({"METRICS_TOKEN": "short-token"})
    assert "short-token" not in str(info.value)
    assert Settings.from_env({"METRICS_ENABLED": "false"}).metrics_enabled is False
