# ruff: noqa: E501  (a table of bodies: one line each)
"""The hostile request-body corpus: JSON built to be deep, huge, odd or slow to normalise.

Each entry is (name, body, the status it gets, its code); tests/hostile/test_bodies.py posts
every one to /api/generate under the event-loop watchdog. All fit in MAX_BODY_BYTES (64 KiB).
"""

from __future__ import annotations

import json

WORDS = "Words of an ordinary paragraph, with a comma, long enough to make a thread. " * 3

BODIES: list[tuple[str, bytes, int, str]] = [
    # Structure.
    ("an array 30,000 deep", b"[" * 30_000 + b"]" * 30_000, 400, "not_an_object"),
    ("an object 10,000 deep", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 422, "validation_error"),
    ("a text field 30,000 deep", b'{"text":' + b"[" * 30_000 + b"]" * 30_000 + b"}", 422, "validation_error"),
    ("5,000 unknown keys", b"{" + b",".join(b'"k%d":1' % i for i in range(5_000)) + b"}", 422, "validation_error"),
    ("a 60 KB key", b'{"' + b"k" * 60_000 + b'":1}', 422, "validation_error"),
    ("an array", b'["text"]', 400, "not_an_object"),
    ("nothing", b"", 400, "invalid_json"),
    # Numbers.
    ("a 60,000-digit integer", b'{"text":' + b"9" * 60_000 + b"}", 422, "validation_error"),
    ("1e999999", b'{"url":1e999999}', 422, "validation_error"),
    ("an exponent of 60,000 digits", b'{"url":1e' + b"9" * 60_000 + b"}", 422, "validation_error"),
    ("a 60,000-digit decimal", b'{"url":0.' + b"1" * 60_000 + b"}", 422, "validation_error"),
    ("NaN", b'{"text": NaN}', 400, "invalid_json"),
    # Encoding.
    ("a lone surrogate", b'{"text":"' + b"\\ud800 word " * 1_000 + b'"}', 400, "invalid_json"),
    ("invalid UTF-8", b'{"text":"\xff\xfe' + b"a" * 100 + b'"}', 400, "invalid_json"),
    ("a byte-order mark", b"\xef\xbb\xbf" + json.dumps({"text": WORDS}).encode(), 400, "invalid_json"),
    ("10,000 \\u0000 escapes", b'{"text":"' + b"\\u0000" * 10_000 + b'"}', 422, "empty_text"),
    ("9,000 \\u0041 escapes", b'{"text":"' + b"\\u0041" * 9_000 + b' words"}', 200, ""),
    # Text that normalisation or the writer used to take seconds over.
    ("60,000 spaces then a word", json.dumps({"text": "x" + " " * 60_000 + "y"}).encode(), 422, "text_too_long"),
    ("30,000 spaces in lines", json.dumps({"text": (" " * 30 + "\n") * 1_000 + WORDS}).encode(), 200, ""),
    ("a run of 30,000 combining marks", json.dumps({"text": "e" + "\u0301\u0316" * 15_000}, ensure_ascii=False).encode(), 422, "too_many_marks"),
    ("30 marks on a letter, in NFC", json.dumps({"text": WORDS + "e" + "\u0301" * 30}, ensure_ascii=False).encode(), 200, ""),
    ("20,000 Tibetan vowel signs", json.dumps({"text": "\u0f40" + "\u0f73" * 20_000}, ensure_ascii=False).encode(), 422, "too_many_marks"),
    ("only punctuation", json.dumps({"text": "!?. " * 2_000}).encode(), 422, "empty_text"),
    ("60,000 spaces of padding around JSON", b" " * 60_000 + json.dumps({"text": WORDS}).encode(), 200, ""),
]
