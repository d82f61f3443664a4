"""Settings: defaults that need nothing, every problem listed at once, secrets never shown."""

import dataclasses
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
