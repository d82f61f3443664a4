"""CORS for the origins of CORS_ORIGINS (docs/api.md): the headers a response carries, and the
answer to a preflight. `EdgeHeaders` (edge.py) applies it, in the one pass it already makes over
a request's headers and the one `send` it already wraps: Starlette's CORSMiddleware, a layer of
its own, cost a cache hit 27 Python calls (~11 µs) and /health as many (bench/callcount.py),
building a `Headers` of the request and a `MutableHeaders` of the response each time.

What it answers is Starlette's: the same preflight (200, or 400 naming what is not allowed),
`Access-Control-Allow-Origin` echoing an allowed origin (`*` with CORS_ORIGINS=*), the exposed
headers, and `Vary: Origin` on every response (a cache must not serve one origin's answer to
another). Only the form differs: `Vary` is a header line of its own, which HTTP reads as one
list with any other `Vary` line (RFC 9110, 5.3); and a response to a disallowed origin does not
list the exposed headers, which no browser reads without an allowed origin."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Header = tuple[bytes, bytes]

_ORIGIN_VARY: Header = (b"vary", b"Origin")
_PREFLIGHT_VARY: Header = (
    b"vary",
    b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
    b"Access-Control-Request-Private-Network",
)
# Headers a browser may always send, which a preflight need not be allowed.
_SAFELISTED = ("Accept", "Accept-Language", "Content-Language", "Content-Type")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class Preflight:
    """The answer to a preflight: its status, headers and body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[Header], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Cors:
    """The CORS answers for `origins` ("*" for any), allowing `methods` and request `headers`,
    exposing `expose` to scripts, and letting browsers keep a preflight `max_age` seconds."""

    def __init__(
        self,
        origins: Iterable[str],
        *,
        methods: Sequence[str],
        headers: Sequence[str],
        expose: Sequence[str],
        max_age: int,
    ) -> None:
        listed = tuple(origins)
        self.any_origin = "*" in listed
        self.origins = frozenset(o.encode("latin-1") for o in listed if o != "*")
        self.methods = frozenset(methods)
        allowed = sorted({*_SAFELISTED, *headers})
        self.allowed_headers = frozenset(h.lower() for h in allowed)
        exposed: Header = (b"access-control-expose-headers", ", ".join(expose).encode())
        # What a response carries, by where its request came from (built once).
        self.no_origin: tuple[Header, ...] = (_ORIGIN_VARY,)
        self.any_origin_headers: tuple[Header, ...] = (
            (b"access-control-allow-origin", b"*"),
            exposed,
            _ORIGIN_VARY,
        )
        self._exposed = exposed
        self._preflight: tuple[Header, ...] = (
            _PREFLIGHT_VARY,
            (b"access-control-allow-methods", ", ".join(methods).encode()),
            (b"access-control-max-age", str(max_age).encode()),
            (b"access-control-allow-headers", ", ".join(allowed).encode()),
        )

    def response_headers(self, origin: bytes | None) -> tuple[Header, ...]:
        """The CORS headers of a response to a request from `origin` (None: no Origin header,
        not a browser's cross-origin request)."""
        if origin is None:
            return self.no_origin
        if self.any_origin:
            return self.any_origin_headers
        if origin in self.origins:
            return ((b"access-control-allow-origin", origin), self._exposed, _ORIGIN_VARY)
        return self.no_origin  # without an allowed origin the browser shows the script nothing

    def preflight(self, origin: bytes, headers: Iterable[Header]) -> Preflight | None:
        """The answer to an OPTIONS request from `origin` when it is a preflight (it names the
        method it asks for); None when it is not, and goes on to the app."""
        method = asked = private = None
        for name, value in headers:
            if name == b"access-control-request-method":
                method = value
            elif name == b"access-control-request-headers":
                asked = value
            elif name == b"access-control-request-private-network":
                private = value
        if method is None:
            return None
        answer = list(self._preflight)
        failures = []
        if self.any_origin:
            answer.append((b"access-control-allow-origin", b"*"))
        elif origin in self.origins:
            answer.append((b"access-control-allow-origin", origin))
        else:
            failures.append("origin")
        if method.decode("latin-1") not in self.methods:
            failures.append("method")
        if asked is not None:
            names = (h.strip() for h in asked.decode("latin-1").lower().split(","))
            if any(h not in self.allowed_headers for h in names):
                failures.append("headers")
        if private is not None:
            failures.append("private-network")  # no private-network access is granted
        body = f"Disallowed CORS {', '.join(failures)}".encode() if failures else b"OK"
        answer += (_TEXT, (b"content-length", b"%d" % len(body)))
        return Preflight(400 if failures else 200, answer, body)
