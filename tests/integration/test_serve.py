"""`threadr serve` as a real process, started as a newcomer would (no files, no variables)."""

from pathlib import Path

import httpx

from .processes import threadr_servers

TEXT = "Threads are short. Each tweet carries one idea. Numbers help readers follow along. " * 5


def test_serve_needs_nothing_but_the_installed_package(tmp_path: Path) -> None:
    with threadr_servers(1, {}, cwd=tmp_path) as (port,):
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.json()["status"] == "healthy"
        made = httpx.post(f"http://127.0.0.1:{port}/api/generate", json={"text": TEXT}, timeout=10)
        again = httpx.post(f"http://127.0.0.1:{port}/api/generate", json={"text": TEXT}, timeout=10)
    assert made.status_code == 200 and made.headers["x-cache"] == "MISS"
    assert again.headers["x-cache"] == "HIT" and again.json()["thread"] == made.json()["thread"]
