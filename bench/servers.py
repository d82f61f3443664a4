"""The helper servers of the benchmarks: a mock OpenAI, a static article site, and Redis.

    python -m bench.servers openai --port P [--delay 0.05] [--token-rate 75]
    python -m bench.servers articles --port P

Both count what they serve (`GET /_calls`), so a benchmark can check that N identical cache
misses cost one upstream call. A completion asked for with `"stream": true` is streamed as the
real API streams it (chunks of server-sent events), one token of about 4 characters every
1/token-rate seconds; `GET /_marks` tells when the latest one sent the end of each tweet
(time.monotonic(), which every process of the machine shares), for bench/ttft.py. They depend
only on Starlette, uvicorn and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.procs import ROOT

PARAGRAPH = (
    "Caching is the art of remembering answers. A cache keeps the result of expensive work so "
    "the next request gets it at once, without waiting on the network or on a language model. "
    "Good caches expire entries, bound their memory and never serve one user's data to another. "
    "The hard part is not storing things; it is deciding when a stored answer stops being true."
)


def article_html(n: int) -> bytes:
    """A plain, well-formed article page, different for every `n`."""
    paragraphs = "\n".join(f"<p>Part {i} of article {n}. {PARAGRAPH}</p>" for i in range(1, 7))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Notes on caching, number {n}</title></head><body><header><nav>"
        "<a href='/'>Home</a> <a href='/about'>About</a></nav></header><main><article>"
        f"<h1>Notes on caching, number {n}</h1>{paragraphs}</article></main>"
        "<footer>© Bench Blog</footer></body></html>"
    ).encode()


class Counter:
    """How many requests a helper server answered; `GET /_calls` reads it."""

    def __init__(self) -> None:
        self.calls = 0

    async def endpoint(self, _: Request) -> Response:
        return JSONResponse({"calls": self.calls})


# A streamed reply's tweets: about as long as a model writes them (~45 tokens each).
STREAMED_TWEET = (
    "Part {i} of reply {n}: a cache keeps the result of expensive work, so the next reader gets "
    "the answer at once instead of waiting on the network or on a language model again."
)
STREAMED_TWEETS = 6
CHARS_PER_TOKEN = 4
TOKEN_RATE = 75.0  # tokens a second: a chat model's usual pace (50-100)


def _chunk(n: int, model: str, delta: dict[str, str], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    body = {
        "id": f"chatcmpl-bench-{n}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def streamed(n: int, model: str, token_rate: float, marks: list[float]) -> StreamingResponse:
    """A reply of STREAMED_TWEETS tweets in the shape the writer asks for (writing/prompt.py:
    the count, then each tweet's text and quote), a token every 1/token_rate s; `marks` gets
    the time each tweet's object was closed."""
    tweets = [STREAMED_TWEET.format(i=i, n=n) for i in range(1, STREAMED_TWEETS + 1)]
    reply = json.dumps({"count": len(tweets), "tweets": [{"text": t, "quote": ""} for t in tweets]})
    marks.clear()

    async def chunks() -> Any:
        yield _chunk(n, model, {"role": "assistant", "content": ""})
        # Where each tweet's object ends, in reply characters (no brace inside the texts; the
        # last one closes the reply).
        ends = [m.end() for m in re.finditer(r"\}", reply)][:-1]
        started = time.monotonic()
        for k, at in enumerate(range(0, len(reply), CHARS_PER_TOKEN)):
            await asyncio.sleep(max(started + k / token_rate - time.monotonic(), 0))
            piece = reply[at : at + CHARS_PER_TOKEN]
            yield _chunk(n, model, {"content": piece})
            marks.extend(time.monotonic() for end in ends if at < end <= at + len(piece))
        yield _chunk(n, model, {}, "stop")
        yield b"data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream")


def openai_app(delay: float, token_rate: float = TOKEN_RATE) -> Starlette:
    """Chat Completions that answer `{"tweets": [...]}` after `delay` seconds: whole, or
    streamed at `token_rate` tokens a second when the request asks for a stream."""
    counter = Counter()
    marks: list[float] = []

    async def completions(request: Request) -> Response:
        counter.calls += 1
        n = counter.calls
        body = await request.json()
        if delay:
            await asyncio.sleep(delay)
        if body.get("stream"):
            return streamed(n, body.get("model", "gpt-4o-mini"), token_rate, marks)
        tweets = [
            f"Tweet {i} of reply {n}: caches remember answers so nobody waits twice."
            for i in range(1, 6)
        ]
        return JSONResponse(
            {
                "id": f"chatcmpl-bench-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "gpt-4o-mini"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps({"tweets": tweets})},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 100, "total_tokens": 200},
            }
        )

    async def tweet_ends(_: Request) -> Response:
        return JSONResponse({"calls": counter.calls, "tweet_ends": marks})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/_calls", counter.endpoint, methods=["GET"]),
            Route("/_marks", tweet_ends, methods=["GET"]),
        ]
    )


# Real article pages (issue #16's mixed load): the development split of the extraction dataset.
DATASET = ROOT / ".." / "shared" / "datasets" / "article-extraction" / "html"


def dataset_pages() -> dict[str, bytes]:
    """The dataset's pages by id (empty when the dataset is absent)."""
    if not DATASET.is_dir():
        return {}
    return {
        path.name.split(".")[0]: gzip.decompress(path.read_bytes()) for path in DATASET.iterdir()
    }


def edition(page: bytes, n: int) -> bytes:
    """`page` with a sentence of its own at the end of every paragraph: each edition's article
    text differs, so that each is a cache miss written by the model (the same text under
    another URL would be found under the text's key instead, at no model call)."""
    return page.replace(b"</p>", b" (Edition %d.)</p>" % n)


def articles_app() -> Starlette:
    """`GET /articles/<n>.html`: article number n; `GET /hostile/<n>`: page n of the hostile
    corpus (tests/hostile/pages.py), whatever the query string; `GET /dataset/<id>/<n>.html`:
    edition n of a real page of the dataset."""
    from tests.hostile.pages import PAGES

    counter = Counter()
    pages = dataset_pages()

    async def article(request: Request) -> Response:
        counter.calls += 1
        return Response(article_html(request.path_params["n"]), media_type="text/html")

    async def hostile(request: Request) -> Response:
        counter.calls += 1
        _, body, headers, _ = PAGES[request.path_params["n"]]
        return Response(body, headers=headers)

    async def dataset(request: Request) -> Response:
        counter.calls += 1
        page = pages.get(request.path_params["page"])
        if page is None:
            return Response(b"no such page", status_code=404)
        return Response(edition(page, request.path_params["n"]), media_type="text/html")

    return Starlette(
        routes=[
            Route("/articles/{n:int}.html", article, methods=["GET"]),
            Route("/hostile/{n:int}", hostile, methods=["GET"]),
            Route("/dataset/{page}/{n:int}.html", dataset, methods=["GET"]),
            Route("/_calls", counter.endpoint, methods=["GET"]),
        ]
    )


def redis_argv(port: int, workdir: Path) -> list[str]:
    """A throwaway redis-server on loopback: no persistence, no other interface."""
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "yes",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--loglevel",
        "warning",
    ]


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["openai", "articles"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per completion")
    parser.add_argument("--token-rate", type=float, default=TOKEN_RATE, help="streamed tokens/s")
    args = parser.parse_args()
    app = openai_app(args.delay, args.token_rate) if args.kind == "openai" else articles_app()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
