# ruff: noqa: E501  (a table of pages: one line each reads better than wrapped builders)
"""The hostile page corpus: pages built to make a parser slow, deep, huge or confused.

Each entry is (name, body, headers, the statuses it may get); tests/hostile/test_pages.py
sends every one through the fetch → extract path and checks the answer is quick and clear.
The sizes stay within the fetch limit (5 MiB) so that it is the extractor, not the byte cap,
that each page meets.
"""

from __future__ import annotations

import gzip
import zlib

PROSE = b"<p>Words of an ordinary paragraph, with a comma, long enough to count as prose.</p>"
ARTICLE = b"<article><h1>Title</h1>" + PROSE * 40 + b"</article>"


def page(body: bytes, head: bytes = b"") -> bytes:
    return b"<!doctype html><html><head>" + head + b"</head><body>" + body + b"</body></html>"


def nested(open_tag: bytes, close_tag: bytes, depth: int, inner: bytes = PROSE) -> bytes:
    return page(open_tag * depth + inner + close_tag * depth)


def ld_json(data: bytes) -> bytes:
    return page(ARTICLE, b'<script type="application/ld+json">' + data + b"</script>")


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


HTML = {"content-type": "text/html"}
# The statuses a page may get. A page of megabytes that a slow or busy machine cannot read
# within the test's limit gets a 422 instead of its thread, so those allow both.
THREAD = frozenset({200})
REFUSED = frozenset({422})
THREAD_OR_TOO_SLOW = frozenset({200, 422})
BROKEN = frozenset({502})

PAGES: list[tuple[str, bytes, dict[str, str], frozenset[int]]] = [
    # Nesting: every pass that walks ancestors or re-reads subtrees is quadratic in depth.
    ("16,000 nested sidebars", nested(b'<div class="sidebar">x', b"</div>", 16_000), HTML, REFUSED),
    ("8,000 nested sidebars around an h1", nested(b'<div class="sidebar"><h1>T</h1>', b"</div>", 8_000), HTML, REFUSED),
    ("20,000 nested divs of prose", nested(b"<div>" + PROSE, b"</div>", 20_000), HTML, REFUSED),
    ("5,000 nested tables", nested(b"<table><tr><td>" + PROSE, b"</td></tr></table>", 5_000), HTML, REFUSED),
    ("100,000 nested inline tags", nested(b"<b>", b"</b>", 100_000), HTML, REFUSED),
    ("nested sections of links", nested(b"<section><a href=x>a link</a>" + PROSE, b"", 10_000), HTML, REFUSED),
    ("3,000 unclosed <b> re-made in 20,000 paragraphs", page(b"<p>" + b"".join(b"<b id=%d>" % i for i in range(3_000)) + b"</p><p>x</p>" * 20_000), HTML, REFUSED),
    ("500 levels: under the cap", nested(b"<div>" + PROSE, b"</div>", 500, ARTICLE), HTML, THREAD),
    # Width and size.
    ("100,000 siblings", page(b"<article>" + b"<p>w</p>" * 100_000 + PROSE * 20 + b"</article>"), HTML, THREAD_OR_TOO_SLOW),
    ("600,000 empty elements", page(b"<i></i>" * 600_000 + ARTICLE), HTML, REFUSED),
    ("5 MB of prose paragraphs", page(b"<article>" + PROSE * 60_000 + b"</article>"), HTML, THREAD_OR_TOO_SLOW),
    ("5 MB in one text node", page(b"<p>" + b"word " * 1_000_000 + b"</p>"), HTML, THREAD_OR_TOO_SLOW),
    ("5 MB plain text", b"word, " * 800_000, {"content-type": "text/plain"}, THREAD_OR_TOO_SLOW),
    ("one 4 MB word", page(b"<p>" + b"x" * 4_000_000 + b"</p>" + ARTICLE), HTML, THREAD_OR_TOO_SLOW),
    ("4 MB of spaces", page(b"<p>a" + b" " * 4_000_000 + b"b</p>" + ARTICLE), HTML, THREAD_OR_TOO_SLOW),
    ("combining-mark run", page(b"<p>e" + "\u0301".encode() * 1_000_000 + b"</p>" + ARTICLE), HTML, THREAD_OR_TOO_SLOW),
    ("200,000 <br>", page(b"<article>" + b"<br>" * 200_000 + PROSE * 20 + b"</article>"), HTML, THREAD_OR_TOO_SLOW),
    ("a 1 MB class attribute", page(b'<div class="' + b"sidebar " * 130_000 + b'">' + ARTICLE + b"</div>"), HTML, THREAD),
    ("50,000 attributes on one tag", page(b"<div " + b" ".join(b"a%d=1" % i for i in range(50_000)) + b">" + ARTICLE + b"</div>"), HTML, REFUSED),
    ("a 1 MB title", page(ARTICLE, b"<title>" + b"Title words " * 90_000 + b"</title>"), HTML, THREAD),
    ("a 1 MB og:title", page(ARTICLE, b'<meta property="og:title" content="' + b"T " * 500_000 + b'">'), HTML, THREAD),
    ("an unclosed comment", page(ARTICLE + b"<!--" + b"-" * 1_000_000), HTML, THREAD),
    ("300,000 scripts", page(b"<script>x</script>" * 300_000 + ARTICLE), HTML, THREAD_OR_TOO_SLOW),
    # JSON-LD.
    ("JSON-LD nested 1,000 deep", ld_json(b"[" * 1_000 + b"]" * 1_000), HTML, THREAD),
    ("JSON-LD nested 100,000 deep", ld_json(b"[" * 100_000 + b"]" * 100_000), HTML, THREAD),
    ("JSON-LD author nested 10,000 deep", ld_json(b'{"@type":"Article","author":' + b'{"name":' * 10_000 + b'"x"' + b"}" * 10_001), HTML, THREAD),
    ("JSON-LD author list nested", ld_json(b'{"@type":"Article","author":' + b"[" * 5_000 + b"]" * 5_000 + b"}"), HTML, THREAD),
    ("JSON-LD @graph of 100,000", ld_json(b'{"@graph":[' + b",".join([b'{"@type":"Article"}'] * 100_000) + b"]}"), HTML, THREAD_OR_TOO_SLOW),
    ("JSON-LD 3 MB articleBody", ld_json(b'{"@type":"Article","articleBody":"' + b"word " * 600_000 + b'"}'), HTML, THREAD_OR_TOO_SLOW),
    ("JSON-LD huge number", ld_json(b'{"@type":"Article","wordCount":' + b"9" * 100_000 + b"}"), HTML, THREAD),
    # Charsets.
    *(
        (f"charset {label}", page(ARTICLE, b'<meta charset="' + label.encode() + b'">'), HTML, THREAD)
        for label in ("undefined", "punycode", "idna", "utf-7", "base64", "unicode-escape", "rot13", "x-user-defined", "utf-32", "bogus\x00")
    ),
    *(
        (f"header charset {label}", page(ARTICLE), {"content-type": f"text/html; charset={label}"}, THREAD)
        for label in ("undefined", "punycode", "hex", "zlib", "utf-16")
    ),
    ("invalid UTF-8 everywhere", page(b"\xff\xfe\xfd" * 100_000 + ARTICLE), {"content-type": "text/html; charset=utf-8"}, THREAD),
    ("UTF-16 BOM, odd length", b"\xff\xfe" + page(ARTICLE) + b"\x00", HTML, REFUSED),
    # Compression.
    ("raw deflate", raw_deflate(page(ARTICLE)), {**HTML, "content-encoding": "deflate"}, THREAD),
    ("zlib deflate", zlib.compress(page(ARTICLE)), {**HTML, "content-encoding": "deflate"}, THREAD),
    ("truncated gzip", gzip.compress(page(ARTICLE))[:-20], {**HTML, "content-encoding": "gzip"}, BROKEN),
    ("garbage as gzip", b"\x1f\x8b" + b"\x00" * 5000, {**HTML, "content-encoding": "gzip"}, BROKEN),
    ("garbage as deflate", b"\x78\x9c" + b"\xff" * 5000, {**HTML, "content-encoding": "deflate"}, BROKEN),
    ("gzip bomb", gzip.compress(b" " * 200_000_000, 9), {**HTML, "content-encoding": "gzip"}, REFUSED),
    ("brotli", b"\x0b\x02\x80hello\x03", {**HTML, "content-encoding": "br"}, BROKEN),
    # Types.
    ("an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 1000, {"content-type": "image/png"}, REFUSED),
    ("no content type, binary", bytes(range(256)) * 1000, {}, REFUSED),
]
