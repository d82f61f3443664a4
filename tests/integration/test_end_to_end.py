"""A real article page served over HTTP on 127.0.0.1, through the real fetcher, extractor and
offline writer: the thread comes from the article body, not the page's navigation."""

import gzip
import json
import re
from typing import Any

import pytest

from tests.articles.sites import Server, reply
from tests.factories import DATASET, make_settings, running_app
from threadr.cli import main

# A news page of the dataset with navigation, share bars and related links around the article.
PAGE_ID = "0d46122928b6f468cc4bbc694051d0dbae5702bc75a16dab82a99b58daf150a0"


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


@pytest.fixture
def article(dataset: dict[str, Any]) -> tuple[bytes, str]:
    html = gzip.decompress((DATASET / "html" / f"{PAGE_ID}.html.gz").read_bytes())
    return html, dataset[PAGE_ID]["articleBody"]


async def test_url_thread_comes_from_the_article_body(article: tuple[bytes, str]) -> None:
    html, truth = article
    settings = make_settings(FETCH_ALLOW_PRIVATE_NETWORKS="true")
    async with Server({"/story?id=1": reply(200, html)}) as server, running_app(settings) as client:
        url = f"http://127.0.0.1:{server.port}/story?id=1&utm_source=newsletter"
        response = await client.post("/api/generate", json={"url": url})
        again = await client.post("/api/generate", json={"url": url.split("&")[0]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source_type"] == "url" and body["title"]
    *tweets, _closer = [re.sub(r"^\d+/\d+ ", "", t["content"]) for t in body["thread"]]
    stray = words(" ".join(tweets)) - words(truth) - words(body["title"])
    assert len(stray) <= 3, f"words from outside the article body: {sorted(stray)}"
    assert again.json()["cached"] is True  # the tracking parameter did not split the cache
    assert len(server.seen) == 1


def test_extract_command_prints_json_lines(
    article: tuple[bytes, str], capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    missing = tmp_path / "missing.html"
    source = str(DATASET / "html" / f"{PAGE_ID}.html.gz")
    assert main(["extract", source, str(missing)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["source"] for line in lines] == [source, str(missing)]
    assert lines[0]["title"] and len(lines[0]["text"]) > 500 and "error" not in lines[0]
    assert lines[1]["text"] == "" and lines[1]["error"]
