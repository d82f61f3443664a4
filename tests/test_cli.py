"""The `threadr` command, run as a newcomer would run it."""

import gc
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.factories import make_settings, running_app
from threadr.cli import frozen_heap, main, worker_app
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


def test_generate_takes_the_thread_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    source = tmp_path / "article.txt"
    source.write_text(TEXT * 4, encoding="utf-8")
    options = '{"tweets": 4, "numbering": "(1/n)", "language": "de"}'
    assert main(["generate", "--text-file", str(source), "--offline", "--options", options]) == 0
    captured = capsys.readouterr()
    assert "(1/4) " in captured.out and "(4/4) " in captured.out and "(5/" not in captured.out
    assert "language_unavailable de" in captured.err
    assert main(["generate", "--text-file", str(source), "--offline", "--options", "{"]) == 1
    assert main(["generate", "--text-file", str(source), "--options", '{"tone": 1}']) == 1
    assert "options.tone must be a string" in capsys.readouterr().err


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


def test_serve_runs_workers_with_a_metrics_directory_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]  # named before any worker starts
        served.update(app=app, directory=directory, files=os.listdir(directory), **options)

    monkeypatch.setattr("uvicorn.run", run)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert main(["serve", "--workers", "3"]) == 0  # the flag wins over WEB_CONCURRENCY
    assert served["app"] == "threadr.cli:worker_app" and served["factory"] is True
    assert served["workers"] == 3
    assert served["files"] == [] and served["proxy_headers"] is True
    # Gone once the workers have stopped, and out of this process's environment again.
    assert not Path(served["directory"]).exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_web_concurrency_chooses_the_workers_when_no_flag_does(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: served.append(options | {"app": app}))
    monkeypatch.setenv("METRICS_ENABLED", "false")  # no directory needed
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert main(["serve"]) == 0
    assert "2 workers without REDIS_URL: each keeps its own cache" in caplog.text
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert main(["serve"]) == 0
    assert served[0]["workers"] == 2 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert "workers" not in served[1] and not isinstance(served[1]["app"], str)  # one process


def test_serve_refuses_a_number_of_workers_out_of_bounds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda app, **options: None)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--workers", "0"])
    assert (
        exited.value.code == 2 and "a number of processes from 1 to 256" in capsys.readouterr().err
    )
    monkeypatch.setenv("WEB_CONCURRENCY", "many")
    assert main(["serve"]) == 2
    assert "WEB_CONCURRENCY must be a whole number" in capsys.readouterr().err
    monkeypatch.delenv("WEB_CONCURRENCY")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    assert main(["serve", "--workers", "2"]) == 2
    assert "must be an existing directory" in capsys.readouterr().err


async def test_a_worker_builds_its_app_from_the_environment_and_freezes_its_heap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    async with LifespanManager(worker_app()) as manager:
        assert gc.get_freeze_count() > 10_000
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://threadr") as http:
            assert (await http.get("/health")).status_code == 200
    assert gc.get_freeze_count() == 0
