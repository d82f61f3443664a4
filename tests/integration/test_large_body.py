"""A refused body against a real `threadr serve`: the client reads the 413 (or 415) every time,
however it sends, instead of a broken pipe or a reset (issue #10)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from .processes import threadr_servers

BODY = b'{"text": "' + b"x" * (3 * 1024 * 1024) + b'"}'  # 3 MiB, the limit is 64 KiB
TRIES = 20


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with threadr_servers(1, {"ACCESS_LOG": "false"}) as (port,):
        yield port


def send_then_read(port: int, head: bytes, body: bytes) -> bytes:
    """What a simple client does: send the whole request, then read the answer's head."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # A send buffer of a real network's size: on loopback the kernel would otherwise take
        # the whole 3 MiB at once, and the client would never be caught still sending.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        try:
            sock.sendall(head + body)
        except OSError as exc:  # the server closed under the sender
            return repr(exc).encode()
        received = b""
        try:
            while b"\r\n\r\n" not in received and (data := sock.recv(65536)):
                received += data
        except OSError as exc:  # a reset threw the answer away
            return repr(exc).encode()
        return received


def head(*lines: bytes, version: bytes = b"HTTP/1.1", media: bytes = b"application/json") -> bytes:
    start = b"POST /api/generate %s\r\nHost: threadr\r\nContent-Type: %s\r\n" % (version, media)
    return start + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def chunked(body: bytes, step: int = 64 * 1024) -> bytes:
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


LENGTH = b"Content-Length: %d" % len(BODY)
TOO_LARGE = b"HTTP/1.1 413 Request Entity Too Large"


@pytest.mark.parametrize(
    ("request_head", "body"),
    [
        pytest.param(head(LENGTH), BODY, id="keep-alive"),
        pytest.param(head(LENGTH, b"Connection: close"), BODY, id="connection-close"),
        pytest.param(head(LENGTH, version=b"HTTP/1.0"), BODY, id="http-1.0"),
        pytest.param(
            head(b"Transfer-Encoding: chunked", b"Connection: close"), chunked(BODY), id="chunked"
        ),
    ],
)
def test_the_413_is_read_every_time(port: int, request_head: bytes, body: bytes) -> None:
    answers = [send_then_read(port, request_head, body).split(b"\r\n", 1)[0] for _ in range(TRIES)]
    assert answers == [TOO_LARGE] * TRIES


def test_the_415_of_a_large_body_is_read_every_time(port: int) -> None:
    request_head = head(LENGTH, b"Connection: close", media=b"text/plain")
    answers = [send_then_read(port, request_head, BODY).split(b"\r\n", 1)[0] for _ in range(TRIES)]
    assert answers == [b"HTTP/1.1 415 Unsupported Media Type"] * TRIES


def test_the_standard_library_client_reads_the_413_every_time(port: int) -> None:
    url = f"http://127.0.0.1:{port}/api/generate"
    statuses = []
    for _ in range(TRIES):  # urllib sends `Connection: close`, and the body before it reads
        request = urllib.request.Request(url, BODY, {"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310 - a local test server
            statuses.append("no error")
        except urllib.error.HTTPError as exc:
            statuses.append(str(exc.code))
            exc.close()
        except OSError as exc:  # URLError(BrokenPipeError …)
            statuses.append(repr(exc))
    assert statuses == ["413"] * TRIES


def test_a_client_waiting_for_100_continue_gets_the_413_without_sending(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head(LENGTH, b"Expect: 100-continue"))  # and nothing more
        received = b""
        while data := sock.recv(65536):  # the server answers, then closes: no body is expected
            received += data
    status, headers = received.split(b"\r\n", 1)
    assert status == TOO_LARGE
    assert b"connection: close" in headers.lower()
