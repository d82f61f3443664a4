"""Slow and idle clients against a real `threadr serve` (docs/slow-clients.md): they do not hold
up anyone else, an idle keep-alive connection is closed, and past MAX_CONNECTIONS a request
is answered 503 at once instead of hanging."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx

from .processes import threadr_servers

TEXT = "Threads are short. Each tweet carries one idea. Numbers help readers follow along. " * 5


@contextlib.contextmanager
def server(**env: str) -> Iterator[int]:
    with threadr_servers(1, {"ACCESS_LOG": "false", **env}) as (port,):
        yield port


@contextlib.contextmanager
def tricklers(port: int, count: int, trickled: bytes, *, first: bytes = b"") -> Iterator[None]:
    """`count` clients, each sending `first` at once and then `trickled` one byte a second,
    for as long as the block runs (entered once every one of them has sent something)."""
    stop = threading.Event()
    started = threading.Barrier(count + 1, timeout=5)

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(first + trickled[:1])
            started.wait()
            for byte in trickled[1:]:
                if stop.wait(1.0):
                    return
                sock.sendall(bytes([byte]))
            stop.wait()

    threads = [threading.Thread(target=trickle, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        started.wait()
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def timed_requests(port: int) -> float:
    """Seconds a health probe and a generation take, one after the other."""
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=5) as client:
        assert client.get("/health").status_code == 200
        assert client.post("/api/generate", json={"text": TEXT}).status_code == 200
    return time.monotonic() - started


HEAD = b"POST /api/generate HTTP/1.1\r\nHost: threadr\r\nContent-Type: application/json\r\n"


def test_clients_trickling_headers_hold_up_nobody() -> None:
    with server() as port, tricklers(port, 50, HEAD):
        assert timed_requests(port) < 1.0


def test_clients_trickling_bodies_hold_up_nobody() -> None:
    first = HEAD + b"Content-Length: 1000\r\n\r\n"
    with server() as port, tricklers(port, 50, b'{"text": "' + b"x" * 100, first=first):
        assert timed_requests(port) < 1.0


def test_an_idle_keep_alive_connection_is_closed() -> None:
    with (
        server(KEEP_ALIVE_SECONDS="1") as port,
        socket.create_connection(("127.0.0.1", port), timeout=4) as sock,
    ):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: threadr\r\n\r\n")
        received = b""
        while b"}" not in received:  # the whole (small) JSON answer
            received += sock.recv(65536)
        answered = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server (a timeout here raises)
        idle = time.monotonic() - answered
    assert received.startswith(b"HTTP/1.1 200 ")
    assert 0.8 < idle < 2.5


def test_past_max_connections_a_request_is_answered_503_at_once() -> None:
    with server(MAX_CONNECTIONS="5") as port:
        with tricklers(port, 4, HEAD):  # four held connections, and this one makes five
            started = time.monotonic()
            crowded = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            waited = time.monotonic() - started
        assert (crowded.status_code, crowded.headers["connection"]) == (503, "close")
        assert waited < 1.0
        # Once the held connections go, the next client is served again.
        deadline = time.monotonic() + 5
        # Each refused request is itself the wait: the server frees the held slots as it reads
        # the closed connections, between two of them.
        while (status := httpx.get(f"http://127.0.0.1:{port}/health").status_code) != 200:
            assert time.monotonic() < deadline, status
