"""Reading JSON request bodies: media type, a size limit enforced while reading, a deadline,
readable errors."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.types import Receive, Scope

from threadr.errors import (
    BadRequest,
    PayloadTooLarge,
    ThreadrError,
    UnsupportedMediaType,
    ValidationFailed,
)
from threadr.storage.deadline import Deadlines

T = TypeVar("T")

# The whole body must have arrived this many seconds after the handler first asks for it, so
# that a client trickling its body (slowloris) holds a task and a connection for no longer
# (docs/slow-clients.md). 64 KiB in 30 s is 2 KiB/s: any real client is far quicker.
BODY_SECONDS = 30.0
# A refused body is still read, and thrown away, up to this many bytes past the limit (why: in
# read_body); past that the connection is closed under the sender.
DRAIN_BYTES = 4 * 1024 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit:,} bytes.",
        code="payload_too_large",
        headers={"Connection": "close"},
    )


# One timer for every body being read (storage/deadline.py): ~1 µs a request (timeit; +9
# Python calls per cache hit in bench.callcount), where `asyncio.timeout` would arm and cancel
# a loop timer for each (7.6 µs a hit, measured for the Redis deadlines).
_BODY_DEADLINES = Deadlines(BODY_SECONDS)


async def read_body(
    scope: Scope, receive: Receive, limit: int, *, within: float = BODY_SECONDS
) -> bytes:
    """The raw body of a JSON request, refused (413) as soon as it passes `limit` bytes and cut
    off (400 `body_timeout`) when it has not all arrived `within` seconds.

    Plain ASGI (no Request object): this runs on every cache hit."""
    media_type = declared = b""
    for name, value in scope["headers"]:  # lower-case names, as ASGI servers give them
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
        elif name == b"content-length":
            declared = value
    refused: list[ThreadrError] = []
    if media_type != b"application/json" and not (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    ):
        refused.append(
            UnsupportedMediaType(
                "Send the body as JSON with the header Content-Type: application/json.",
                code="unsupported_media_type",
                headers={"Connection": "close"},
            )
        )
    # A length of 19+ digits is too large whatever the limit (and int() refuses 4,300+).
    elif declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        refused.append(_too_large(limit))
    # Why a refused body is read on before the answer: a client that sends its whole body
    # before reading (urllib, `Connection: close`, HTTP/1.0 — most simple clients) is still
    # sending when the answer is written. Closing a socket with unread bytes in it sends a TCP
    # reset, and the reset throws the answer away before the client reads it: it saw a broken
    # pipe instead of the 413, about half the time (issue #10). Once the body is read the
    # close is an orderly one, and the client reads the answer every time. The answer carries
    # `Connection: close` so that uvicorn reads no further than we do.
    # Not read: a body the client will only send on a "100 Continue" (uvicorn sends it at the
    # first `receive()`, so never, and the client reads the answer at once), and an announced
    # body too large to be worth it (such clients may see the reset).
    if refused and (
        _expects_continue(scope)
        or (declared.isdigit() and (len(declared) > 18 or int(declared) > limit + DRAIN_BYTES))
    ):
        raise refused[0]
    try:
        deadlines = _BODY_DEADLINES if within == BODY_SECONDS else Deadlines(within)
        return await deadlines.run(_receive_body(receive, limit, refused))
    except TimeoutError:
        if refused:
            raise refused[0] from None  # refused already, and then too slow to read on
        raise BadRequest(
            f"The request body did not arrive within {within:g} seconds.",
            code="body_timeout",
            headers={"Connection": "close"},
        ) from None


async def _receive_body(receive: Receive, limit: int, refused: list[ThreadrError]) -> bytes:
    """The body; or, once it is refused (`refused` holds why), the rest of it read and thrown
    away, up to DRAIN_BYTES past the limit, and then the refusal raised."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if refused:
                raise refused[0]  # answered to nobody
            raise BadRequest(
                "The client closed the connection before the body arrived.",
                code="client_disconnected",
            )
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        more: bool = message.get("more_body", False)
        if size > limit and not refused:
            refused.append(_too_large(limit))
        if refused:
            if not more or size > limit + DRAIN_BYTES:
                raise refused[0]
            continue
        if not more:
            if not chunks:
                return chunk  # the usual case: one message
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def _expects_continue(scope: Scope) -> bool:
    """The client sent `Expect: 100-continue`: it waits for a go-ahead before sending its body."""
    return any(
        name == b"expect" and value.lower() == b"100-continue" for name, value in scope["headers"]
    )


def decode_body(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """400 for what is not a JSON object, 422 for an object that breaks the schema."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        if not body.lstrip().startswith(b"{"):
            raise BadRequest(
                'The body must be a JSON object, like {"text": "..."}.', code="not_an_object"
            ) from exc
        raise ValidationFailed(f"{_sentence(str(exc))}", code="validation_error") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(
            f"The body is not valid JSON ({_sentence(str(exc))[:-1].lower()}).", code="invalid_json"
        ) from exc


# msgspec quotes what it refused (an unknown field's name, a path): a client's own bytes, which
# must not come back 60 KB long.
_MAX_QUOTE = 200


def _sentence(message: str) -> str:
    """msgspec says "Expected `str`, got `int` - at `$.url`"; end it like a sentence."""
    message = message.replace(" - at ", " at ")
    if len(message) > _MAX_QUOTE:
        message = message[: _MAX_QUOTE - 1] + "…"
    return message if message.endswith(".") else message + "."
