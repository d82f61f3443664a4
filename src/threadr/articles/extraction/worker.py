"""The extraction worker: a process of its own that reads pages from stdin and writes what it
extracted to stdout, so a page that takes seconds to parse never holds up the event loop and
can be stopped by killing the process (pool.py starts it as
`python -m threadr.articles.extraction.worker`).

Frames in both directions are a 4-byte big-endian length, then msgpack (`Job` in, `Reply` out).
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import sys
from typing import BinaryIO

import msgspec

from threadr.errors import Unprocessable

from .article import Article, extract

log = logging.getLogger(__name__)

# Readers are background work: the server's event loop should win the CPU when it wants it,
# so /health and cache hits stay fast while a worker parses a large page. Only a little nicer
# than the server: the page's time limit is wall-clock time, and a worker at 10 gets a tenth
# of a busy core.
NICENESS = 5
# No page needs more memory than this to be read (a 5 MB page takes ~300 MB); Lexbor rebuilds
# unclosed formatting tags in every paragraph, so a 270 KB page can ask for gigabytes, and the
# time limit alone would let it. Past this, the worker's MemoryError is a 422.
MAX_MEMORY = 1536 * 1024 * 1024
# Sent once the worker has imported everything: the pool times a page from then on.
READY = b"ready\n"


class Job(msgspec.Struct, array_like=True, frozen=True):
    body: bytes
    url: str | None = None
    content_type: str | None = None


class Reply(msgspec.Struct, array_like=True, frozen=True):
    """An article, or why there is none (an Unprocessable's detail and code)."""

    article: Article | None = None
    detail: str = ""
    code: str = ""


def answer(job: Job) -> Reply:
    """The worker's whole job: never raises, whatever the page."""
    try:
        return Reply(article=extract(job.body, url=job.url, content_type=job.content_type))
    except Unprocessable as exc:
        return Reply(detail=exc.detail, code=exc.code)
    except MemoryError:
        return Reply(detail="The page needs too much memory to be read.", code="page_too_complex")
    except Exception:  # a page we did not foresee (a parser limit, a recursion): a 422, logged
        log.exception("extraction failed on %s", job.url or "a page")
        return Reply(detail="The page could not be read as an article.", code="unreadable_page")


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer jobs until the other end closes."""
    decode = msgspec.msgpack.Decoder(Job).decode
    encode = msgspec.msgpack.Encoder().encode
    while True:
        header = requests.read(4)
        if len(header) < 4:
            return
        data = encode(answer(decode(requests.read(int.from_bytes(header, "big")))))
        replies.write(len(data).to_bytes(4, "big") + data)
        replies.flush()


def main() -> None:
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_AS, (MAX_MEMORY, MAX_MEMORY))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Replies go to a copy of fd 1, and fd 1 itself to stderr: nothing printed by us or by a
    # C library can corrupt a reply frame.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    replies.write(READY)
    replies.flush()
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
