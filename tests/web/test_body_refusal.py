"""A refused body (413, 415) is read to its end, within bounds, before the answer, which closes
the connection; one that never finishes arriving is cut off (issue #10). The real sockets are in
integration/test_large_body.py; here, what read_body asks of ASGI `receive`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from threadr.errors import BadRequest, PayloadTooLarge, ThreadrError, UnsupportedMediaType
from threadr.web.bodies import DRAIN_BYTES, read_body

JSON = (b"content-type", b"application/json")
CONTINUE = (b"expect", b"100-continue")


def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "headers": list(headers)}


class Receiver:
    """ASGI `receive` giving `count` messages of `size` bytes (the last one ends the body, unless
    `endless`), then waiting forever; counts what it was asked for."""

    def __init__(self, size: int, count: int, *, endless: bool = False) -> None:
        self.size, self.count, self.endless = size, count, endless
        self.calls = 0
        self.bytes = 0

    async def __call__(self) -> dict[str, Any]:
        if self.calls >= self.count:
            await asyncio.Event().wait()  # a client that stopped sending
        self.calls += 1
        self.bytes += self.size
        more = self.endless or self.calls < self.count
        return {"type": "http.request", "body": b"x" * self.size, "more_body": more}


def closes(error: ThreadrError) -> bool:
    return error.headers.get("Connection") == "close"


async def test_an_announced_oversized_body_is_read_to_its_end_before_the_413() -> None:
    receive = Receiver(64 * 1024, 48)  # 3 MiB
    with pytest.raises(PayloadTooLarge) as caught:
        await read_body(scope(JSON, (b"content-length", b"%d" % (3 << 20))), receive, 65_536)
    assert receive.calls == 48  # the client's send finished: it reads the answer, not a reset
    assert closes(caught.value)


async def test_a_body_found_too_large_while_reading_is_read_to_its_end_too() -> None:
    receive = Receiver(64 * 1024, 48)
    with pytest.raises(PayloadTooLarge) as caught:
        await read_body(scope(JSON, (b"transfer-encoding", b"chunked")), receive, 65_536)
    assert receive.calls == 48
    assert closes(caught.value)


async def test_reading_a_refused_body_stops_at_the_drain_bound() -> None:
    receive = Receiver(64 * 1024, 10**6, endless=True)  # 64 GB, never ending
    with pytest.raises(PayloadTooLarge) as caught:
        await read_body(scope(JSON), receive, 65_536)
    assert 65_536 + DRAIN_BYTES <= receive.bytes <= 65_536 + DRAIN_BYTES + 64 * 1024
    assert closes(caught.value)  # and the rest is never read: the connection ends


async def test_an_announced_body_beyond_the_drain_bound_is_refused_unread() -> None:
    receive = Receiver(64 * 1024, 10**6)
    length = b"%d" % (65_536 + DRAIN_BYTES + 1)
    with pytest.raises(PayloadTooLarge) as caught:
        await read_body(scope(JSON, (b"content-length", length)), receive, 65_536)
    assert receive.calls == 0
    assert closes(caught.value)


async def test_a_client_waiting_for_100_continue_is_refused_before_it_sends() -> None:
    receive = Receiver(64 * 1024, 48)  # reading would make uvicorn send "100 Continue"
    with pytest.raises(PayloadTooLarge) as caught:
        await read_body(scope(JSON, CONTINUE, (b"content-length", b"3145728")), receive, 65_536)
    assert receive.calls == 0
    assert closes(caught.value)


async def test_a_body_of_the_wrong_media_type_is_read_before_the_415() -> None:
    receive = Receiver(64 * 1024, 8)
    headers = ((b"content-type", b"text/plain"), (b"content-length", b"524288"))
    with pytest.raises(UnsupportedMediaType) as caught:
        await read_body(scope(*headers), receive, 65_536)
    assert receive.calls == 8
    assert closes(caught.value)


async def test_a_body_that_stops_arriving_is_cut_off() -> None:
    receive = Receiver(10, 3, endless=True)  # 30 bytes, then nothing, forever
    with pytest.raises(BadRequest) as caught:
        await read_body(scope(JSON), receive, 65_536, within=0.2)
    assert caught.value.code == "body_timeout"
    assert closes(caught.value)


async def test_a_refused_body_that_stops_arriving_still_gets_its_413() -> None:
    receive = Receiver(1024, 100, endless=True)  # 100 KiB, then nothing
    with pytest.raises(PayloadTooLarge) as caught:
        await read_body(scope(JSON), receive, 65_536, within=0.2)
    assert closes(caught.value)


async def test_a_body_in_time_is_read_as_before() -> None:
    receive = Receiver(10, 3)
    assert await read_body(scope(JSON), receive, 65_536, within=0.2) == b"x" * 30
