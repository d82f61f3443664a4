"""The `threadr` command, run as a newcomer would run it."""

from pathlib import Path

import pytest

from threadr.cli import main

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
