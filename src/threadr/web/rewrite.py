"""POST /api/rewrite: one tweet of a thread written anew, numbered as the thread is and, when the
client names the article the thread came from (`url` or `text`, as it sent them to POST
/api/generate), grounded in it. Rate-limited as a generation is; a quarter of one against the
free tier (limits/rewrites.py)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from threadr.errors import ThreadrError
from threadr.limits.rewrites import RewriteAccount
from threadr.rewrite import RewriteJob
from threadr.source import validate
from threadr.writing.options import parse_options
from threadr.writing.rewrite import check_thread

from .auth import caller, has_premium, identity
from .bodies import decode_body, read_body
from .context import services
from .limits import rate_limit_headers, rate_limited
from .responses import JSON
from .schemas import RewriteRequest, RewriteResponse, SentTweet

_decode_rewrite = msgspec.json.Decoder(RewriteRequest)


async def rewrite(request: Request) -> Response:
    """POST /api/rewrite `{thread, index, instruction?, options?, url? | text?}`."""
    running = services(request)
    settings = running.settings
    body = await read_body(request.scope, request.receive, settings.max_body_bytes)
    sent = decode_body(body, _decode_rewrite)
    options = parse_options(sent.options)
    thread = [t.content if isinstance(t, SentTweet) else t for t in sent.thread]
    named = sent.url is not None or sent.text is not None
    check_thread(thread, sent.index, sent.instruction, options, grounded=named)
    article = validate(sent.url, sent.text, settings) if named else None
    job = RewriteJob(tuple(thread), sent.index, sent.instruction, options, article)
    session = await caller(request.scope, running)
    who, premium = identity(request.scope, session, running), has_premium(session)
    # The generation policies, counted as one request: a rewrite costs a model call too.
    decision, _ = await running.admission.limiter.hit(who, premium=premium)
    headers = rate_limit_headers(decision)
    if not decision.allowed:
        raise rate_limited(decision, headers)
    try:
        done = await running.rewriter.rewrite(
            job, RewriteAccount(running.rewrites, who, premium=premium)
        )
    except ThreadrError as exc:
        exc.headers.update(headers)
        raise
    answer = RewriteResponse(
        done.tweet, sent.index, done.generator, article is not None, done.warnings
    )
    return JSON(answer, headers=headers)
