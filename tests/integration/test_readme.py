"""The README's commands, run as a newcomer would run them: its `curl` example against a real
`threadr serve` started with no variable (what `make run` serves), and its shown answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from .processes import threadr_servers

README = Path(__file__).resolve().parents[2] / "README.md"
# The first example: `curl … -d '<json body>'`, then the response the README shows.
_EXAMPLE = re.compile(r"\$ curl -si localhost:8000(/api/generate) .*? -d '(\{.*?\})'\n", re.S)
_SHOWN_TWEET = re.compile(
    r'\{"number": (\d+), "total": (\d+), "content": "(.*?)", "character_count": (\d+), '
    r'"source": (null|\{"start": \d+, "end": \d+\})\}'
)


def readme_example() -> tuple[str, dict[str, str], list[tuple[int, int, str, int, Any]]]:
    text = README.read_text(encoding="utf-8")
    match = _EXAMPLE.search(text)
    assert match, "the README's first curl example is not where this test looks for it"
    path, body = match.group(1), json.loads(match.group(2).replace("\n  ", " "))
    shown = [
        (int(n), int(total), content, int(count), json.loads(source))
        for n, total, content, count, source in _SHOWN_TWEET.findall(text[match.end() :])
    ]
    return path, body, shown


def test_the_readme_example_answers_what_the_readme_shows(tmp_path: Path) -> None:
    path, body, shown = readme_example()
    assert shown, "the README shows no thread for its example"
    with threadr_servers(1, {}, cwd=tmp_path) as (port,):
        first = httpx.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=10)
        again = httpx.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=10)
    assert first.status_code == 200 and first.headers["x-cache"] == "MISS"
    assert first.headers["ratelimit-policy"] == '"burst";q=10;w=60, "hourly";q=50;w=3600'
    thread = first.json()["thread"]
    got = [
        (t["number"], t["total"], t["content"], t["character_count"], t["source"]) for t in thread
    ]
    assert len(got) == len(shown)
    for (number, total, content, count, source), (
        s_number,
        s_total,
        s_content,
        s_count,
        s_source,
    ) in zip(got, shown, strict=True):
        # The README cuts long tweets with "…": what it shows is the start of the real one.
        assert (number, total, count, source) == (s_number, s_total, s_count, s_source)
        assert content.startswith(s_content.removesuffix(" …").removesuffix("…"))
    assert first.json()["generator"] == "offline"
    assert again.headers["x-cache"] == "HIT" and again.json()["thread"] == thread
