"""Reading JSON request bodies: media type, a size limit enforced while reading, readable errors."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.types import Receive, Scope

from threadr.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

T = TypeVar("T")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit:,} bytes.", code="payload_too_large"
    )


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The raw body of a JSON request, stopping as soon as it passes `limit` bytes.

    Plain ASGI (no Request object): this runs on every cache hit."""
    media_type = declared = b""
    for name, value in scope["headers"]:  # lower-case names, as ASGI servers give them
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
        elif name == b"content-length":
            declared = value
    if media_type != b"application/json" and not (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    ):
        raise UnsupportedMediaType(
            "Send the body as JSON with the header Content-Type: application/json.",
            code="unsupported_media_type",
        )
    # A length of 19+ digits is too large whatever the limit (and int() refuses 4,300+).
    if declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise _too_large(limit)  # refuse before reading a byte of it
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(
                "The client closed the connection before the body arrived.",
                code="client_disconnected",
            )
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if not message.get("more_body", False):
            if not chunks:
                return chunk  # the usual case: one message
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


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


def _sentence(message: str) -> str:
    """msgspec says "Expected `str`, got `int` - at `$.url`"; end it like a sentence."""
    message = message.replace(" - at ", " at ")
    return message if message.endswith(".") else message + "."
