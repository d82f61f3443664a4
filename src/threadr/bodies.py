"""Reading JSON request bodies: media type, a size limit enforced while reading, readable errors."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

T = TypeVar("T")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit:,} bytes.", code="payload_too_large"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body of a JSON request, stopping as soon as it passes `limit` bytes."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            "Send the body as JSON with the header Content-Type: application/json.",
            code="unsupported_media_type",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)  # refuse before reading a byte of it
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise BadRequest(
            "The client closed the connection before the body arrived.", code="client_disconnected"
        ) from exc
    return b"".join(chunks)


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
