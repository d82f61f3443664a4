"""The `threadr` command, run as a newcomer would run it."""

import gc
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from tests.factories import make_settings, running_app
from threadr.cli import frozen_heap, main
from threadr.web.app import create_app

TEXT = "Threads are short. Each tweet carries one idea. Numbers help readers follow along. " * 5


def test_generate_offline_prints_a_numbered_thread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    source = tmp_path / "article.txt"
    source.write_text(TEXT, encoding="utf-8")
    assert main(["generate", "--text-file", str(source), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "1/" in out and "/280]" in out


def test_bad_settings_exit_2_listing_every_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "x")
    monkeypatch.setenv("CACHE_TTL_HOURS", "never")
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "PORT" in err and "CACHE_TTL_HOURS" in err


def test_check_config_explains_an_unreachable_redis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("REDIS_TIMEOUT_SECONDS", "0.2")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["check-config"]) == 1
    out = capsys.readouterr().out
    assert "Cannot reach Redis at redis://127.0.0.1:1" in out
    assert "offline writer" in out


def test_check_config_warns_when_tls_is_not_verified(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "rediss://127.0.0.1:1/0?ssl_cert_reqs=none")
    monkeypatch.setenv("REDIS_TIMEOUT_SECONDS", "0.2")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("REDIS_TLS_INSECURE", raising=False)
    assert main(["check-config"]) == 2  # refused: the URL alone may not turn verification off
    assert "ssl_cert_reqs=none" in capsys.readouterr().err
    monkeypatch.setenv("REDIS_TLS_INSECURE", "true")
    main(["check-config"])
    warnings = [line for line in capsys.readouterr().out.splitlines() if "WARNING" in line]
    assert len(warnings) == 1
    assert "REDIS_TLS_INSECURE=true" in warnings[0] and "ssl_cert_reqs=none" in warnings[0]
    assert "certificate is not verified" in warnings[0]


async def test_only_threadr_serve_freezes_start_up_objects() -> None:
    async with running_app(make_settings()) as client:
        assert (await client.get("/health")).status_code == 200
        assert gc.get_freeze_count() == 0  # an app alone (every test's) leaves the GC alone
    async with LifespanManager(create_app(make_settings(), while_serving=frozen_heap)):
        assert gc.get_freeze_count() > 10_000  # what start-up built is out of the GC's scans
    assert gc.get_freeze_count() == 0  # and collectable again after shutdown


async def test_serve_freezes_the_heap_once_started(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **options: served.update(app=app, **options))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["serve", "--port", "8123"]) == 0
    assert served["port"] == 8123 and served["proxy_headers"] is True
    async with LifespanManager(served["app"]):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_serve_explains_a_multiprocess_directory_it_cannot_use(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This process imported prometheus-client without the variable: its values live in memory.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr("uvicorn.run", lambda app, **options: None)
    assert main(["serve"]) == 2
    assert "PROMETHEUS_MULTIPROC_DIR must be set in the environment" in capsys.readouterr().err
