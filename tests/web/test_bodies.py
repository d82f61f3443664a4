"""bodies.read_body on raw ASGI messages: joining, limits, disconnects, media types."""

from typing import Any

import pytest

from threadr.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from threadr.web.bodies import read_body


def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "headers": list(headers)}


def receiver(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


JSON = (b"content-type", b"application/json")


async def test_a_body_in_several_messages_is_joined() -> None:
    receive = receiver(
        {"type": "http.request", "body": b'{"te', "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b'xt": "hi"}'},
    )
    assert await read_body(scope(JSON), receive, 100) == b'{"text": "hi"}'


@pytest.mark.parametrize(
    "value", [b"application/json; charset=utf-8", b"Application/JSON", b"application/ld+json"]
)
async def test_json_media_types_with_parameters_and_suffixes_pass(value: bytes) -> None:
    receive = receiver({"type": "http.request", "body": b"{}"})
    assert await read_body(scope((b"content-type", value)), receive, 100) == b"{}"


@pytest.mark.parametrize("value", [b"text/plain", b"application/jsonx", b"", b"json"])
async def test_other_media_types_are_refused(value: bytes) -> None:
    receive = receiver({"type": "http.request", "body": b"{}"})  # read, then refused
    with pytest.raises(UnsupportedMediaType):
        await read_body(scope((b"content-type", value)), receive, 100)


async def test_a_client_gone_before_the_body_ends_is_a_400() -> None:
    receive = receiver(
        {"type": "http.request", "body": b'{"text": ', "more_body": True},
        {"type": "http.disconnect"},
    )
    with pytest.raises(BadRequest) as caught:
        await read_body(scope(JSON), receive, 100)
    assert caught.value.code == "client_disconnected"


async def test_the_limit_is_enforced_while_reading() -> None:
    receive = receiver(
        {"type": "http.request", "body": b"x" * 60, "more_body": True},
        {"type": "http.request", "body": b"x" * 60, "more_body": True},
        {"type": "http.request", "body": b"x" * 60},
    )  # the rest is read and thrown away before the 413 (test_body_refusal.py says why)
    with pytest.raises(PayloadTooLarge):
        await read_body(scope(JSON), receive, 100)


async def test_a_declared_length_over_the_limit_is_refused() -> None:
    receive = receiver({"type": "http.request", "body": b"x" * 101})
    with pytest.raises(PayloadTooLarge):
        await read_body(scope(JSON, (b"content-length", b"101")), receive, 100)


@pytest.mark.parametrize("length", [b"9" * 19, b"9" * 5000])
async def test_an_absurd_declared_length_is_a_413_not_a_crash(length: bytes) -> None:
    with pytest.raises(PayloadTooLarge):
        await read_body(scope(JSON, (b"content-length", length)), receiver(), 100)
