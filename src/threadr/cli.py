"""The `threadr` command: serve, generate, extract, check-config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import gzip
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from .config import Settings
from .errors import ConfigError, ThreadrError
from .observability.logs import configure_logging

# Where prometheus-client keeps each process's values when several serve (read when imported).
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings)  # LOG_FORMAT, DEBUG; once, here (docs/operations.md)
    command: str = args.command
    if command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    if command == "generate":
        text = None
        if args.text_file is not None:
            path: Path = args.text_file
            text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        return asyncio.run(
            _generate(settings, args.url, text, offline=args.offline, options=args.options)
        )
    if command == "extract":
        return asyncio.run(_extract(settings, args.sources))
    from .checks import check_config

    return asyncio.run(check_config(settings))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the HTTP API (defaults from HOST and PORT)")
    serve.add_argument("--host", help="address to bind (default: $HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: $PORT or 8000)")
    serve.add_argument(
        "--workers", type=_workers, help="processes to serve with (default: $WEB_CONCURRENCY or 1)"
    )
    gen = sub.add_parser("generate", help="print the thread for a URL or a text file")
    source = gen.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="article to fetch")
    source.add_argument("--text-file", type=Path, help="file with the text ('-' for stdin)")
    gen.add_argument("--offline", action="store_true", help="never call OpenAI")
    gen.add_argument(
        "--options", help="""the thread's options as JSON: '{"length": "short"}' (docs/api.md)"""
    )
    ext = sub.add_parser("extract", help="print what the extractor makes of pages (JSON lines)")
    ext.add_argument("sources", nargs="+", help="HTML files (may be .gz) or http(s) URLs")
    sub.add_parser("check-config", help="validate settings and reach Redis and OpenAI")
    return parser


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Start-up's objects frozen out of the garbage collector while the app serves.

    Start-up builds ~100k long-lived objects (the SDKs' models among them); every full
    collection would scan them all again (~26 ms each on the bench machine; the cache hit's p99
    went 52 → 15 ms once frozen). The young generations are collected first, so that start-up's
    own garbage is not frozen too; thawed at shutdown, for processes that go on (the bench).
    """
    gc.collect(1)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _workers(raw: str) -> int:
    count = int(raw)
    if not 1 <= count <= 256:
        raise argparse.ArgumentTypeError("a number of processes from 1 to 256")
    return count


def _serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> int:
    import uvicorn

    from .web.protocol import guarded_protocol

    options: dict[str, Any] = dict(
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
        # Ours replaces uvicorn's access log: one line per request, with the route template
        # instead of the path, the request id and who asked (ACCESS_LOG; web/middleware).
        access_log=False,
        server_header=False,
        # What holds connections to account, in each process (docs/slow-clients.md): a
        # request's head must arrive within HEADER_TIMEOUT_SECONDS and MAX_HEADER_BYTES; an
        # idle keep-alive connection is closed after KEEP_ALIVE_SECONDS; past MAX_CONNECTIONS
        # open connections (or requests in flight) a new request is answered 503 at once, so
        # that slow or idle clients cannot run the process out of file descriptors or memory.
        http=guarded_protocol(
            timeout=settings.header_timeout_seconds, max_bytes=settings.max_header_bytes
        ),
        timeout_keep_alive=settings.keep_alive_seconds,
        limit_concurrency=settings.max_connections,
        log_config=None,  # keep the logging set up in main(), and in each worker (worker_app)
    )
    workers = workers or settings.web_concurrency  # the flag wins over WEB_CONCURRENCY
    if workers > 1:
        return _serve_workers(settings, workers, options)
    from .web.app import create_app

    try:
        app = create_app(settings, while_serving=frozen_heap)
    except ConfigError as exc:  # what only the environment can tell (PROMETHEUS_MULTIPROC_DIR)
        print(exc, file=sys.stderr)
        return 2
    uvicorn.run(app, **options)
    return 0


def _serve_workers(settings: Settings, workers: int, options: dict[str, Any]) -> int:
    """uvicorn's workers: `workers` processes accepting on one socket, each with its own app and
    lifespan (worker_app), started afresh (spawned, not forked) and restarted if one dies."""
    import uvicorn

    if settings.redis_url is None:
        logging.getLogger(__name__).warning(
            "%d workers without REDIS_URL: each keeps its own cache, rate limits and quotas, "
            "so a client gets up to %d times each limit",
            workers,
            workers,
        )
    shared = settings.prometheus_multiproc_dir
    if settings.metrics_enabled and shared is not None and not os.path.isdir(shared):
        print(f"{MULTIPROC_VARIABLE} ({shared}) must be an existing directory.", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if settings.metrics_enabled and shared is None:
            stack.enter_context(_private_metrics_directory())
        # By name, not object: each worker imports it afresh (as `threadr.cli` even when this
        # process runs as `python -m threadr.cli`).
        uvicorn.run("threadr.cli:worker_app", factory=True, workers=workers, **options)
    return 0


@contextlib.contextmanager
def _private_metrics_directory() -> Iterator[str]:
    """A new, empty directory for the workers' metrics (prometheus-client's multiprocess mode:
    /metrics then adds every worker up, whichever answers), named in the environment they
    inherit, before any of them imports prometheus-client; removed when they have stopped."""
    directory = tempfile.mkdtemp(prefix="threadr-metrics-")
    os.environ[MULTIPROC_VARIABLE] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def worker_app() -> Any:
    """The app of one worker of `threadr serve --workers N` (uvicorn's app factory, called in
    each worker process): the settings from the environment it inherited, logging set up as
    main() sets it up for one process, the heap frozen once started."""
    from .web.app import create_app

    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings, while_serving=frozen_heap)


async def _generate(
    settings: Settings,
    url: str | None,
    text: str | None,
    *,
    offline: bool,
    options: str | None = None,
) -> int:
    import dataclasses

    from .services import build_services
    from .source import validate
    from .writing.options import parse_options

    # One-off runs need no shared cache: memory only, and no OpenAI with --offline.
    settings = dataclasses.replace(
        settings, redis_url=None, openai_api_key=None if offline else settings.openai_api_key
    )
    async with contextlib.AsyncExitStack() as stack:
        services = await build_services(settings, stack)
        try:
            chosen = parse_options(msgspec.json.decode(options) if options else None)
            entry = await services.pipeline.generate(validate(url, text, settings), None, chosen)
        except msgspec.DecodeError as exc:
            print(f"error: --options is not JSON ({exc})", file=sys.stderr)
            return 1
        except ThreadrError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    if entry.title:
        print(f"# {entry.title}  ({entry.generator})\n")
    for tweet in entry.thread:
        print(f"{tweet.content}\n    [{tweet.character_count}/280]\n")
    for warning in entry.warnings:
        where = f"tweet {warning.tweet}" if warning.tweet is not None else "thread"
        print(f"warning ({where}): {warning.kind} {warning.value}", file=sys.stderr)
    return 0


async def _extract(settings: Settings, sources: list[str]) -> int:
    from .articles.extraction import extract
    from .articles.fetch import Fetcher

    encode = msgspec.json.encode
    failed = False
    fetcher = Fetcher(settings)
    try:
        for source in sources:
            line: dict[str, str] = {"source": source}
            try:
                if source.startswith(("http://", "https://")):
                    page = await fetcher.fetch(source)
                    article = extract(page.body, url=page.url, content_type=page.content_type)
                else:
                    # One local file at a time from a one-shot command: nothing else waits.
                    data = Path(source).read_bytes()  # noqa: ASYNC240
                    if data[:2] == b"\x1f\x8b":
                        data = gzip.decompress(data)
                    article = extract(data)
                line |= {"title": article.title or "", "text": article.text}
            except (ThreadrError, OSError, EOFError) as exc:
                failed = True
                detail = exc.detail if isinstance(exc, ThreadrError) else str(exc)
                line |= {"title": "", "text": "", "error": detail}
            sys.stdout.write(encode(line).decode() + "\n")
    finally:
        await fetcher.aclose()
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
