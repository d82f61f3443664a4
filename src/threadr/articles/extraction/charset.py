"""Turning the bytes of a fetched page into text: which charset, in what order, no mojibake."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# How far into the document a <meta> declaration is looked for (the HTML standard says 1024
# bytes; real pages put long <head> preambles first, so look further).
META_WINDOW = 4096

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE | re.DOTALL
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml\s[^>]*encoding\s*=\s*["']([\w.:-]+)""", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels that browsers (WHATWG Encoding) read as a wider charset than Python's codec of the same
# name: a page "in latin-1" is really windows-1252, "Shift_JIS" is really cp932, and so on.
_SUPERSETS = {
    "ascii": "cp1252",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "utf-16": "utf-8",  # a declared UTF-16 without a BOM is a lie the standard ignores
}
# WHATWG labels Python's codec registry does not know.
_WHATWG_ONLY = {
    "windows-874": "cp874", "x-mac-cyrillic": "mac-cyrillic", "x-mac-ukrainian": "mac-cyrillic",
    "iso-8859-8-i": "iso8859-8", "csiso88598i": "iso8859-8", "x-gbk": "gbk", "x-x-big5": "big5",
}  # fmt: skip
# The encodings of the WHATWG Encoding standard, by one label each: all a browser decodes a page
# with. Any other label Python knows is refused like an unknown one ("undefined" and "punycode"
# raise on any bytes, "base64" is no text encoding, "unicode-escape" rewrites the text).
_WEB_ENCODINGS = (
    "utf-8", "ibm866", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6",
    "iso-8859-7", "iso-8859-8", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15",
    "iso-8859-16", "koi8-r", "koi8-u", "macintosh", "cp874", "windows-1250",
    "windows-1251", "windows-1252", "windows-1253", "windows-1254", "windows-1255",
    "windows-1256", "windows-1257", "windows-1258", "mac-cyrillic", "gbk", "gb18030", "big5",
    "euc-jp", "iso-2022-jp", "shift_jis", "euc-kr", "utf-16be", "utf-16le",
)  # fmt: skip


def codec_for(label: str | None) -> str | None:
    """Python codec name for a charset label, widened the way browsers do; None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in {"x-sjis", "shift-jis", "windows-31j", "ms_kanji"}:
        label = "cp932"
    label = _WHATWG_ONLY.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    name = _SUPERSETS.get(name, name)
    return name if name in _WEB_CODECS else None


_WEB_CODECS = frozenset(
    _SUPERSETS.get(name, name) for name in (codecs.lookup(e).name for e in _WEB_ENCODINGS)
)


def declared_charset(body: bytes, content_type: str | None = None) -> str | None:
    """Charset from the Content-Type header, else from <meta>/<?xml?> in the first bytes."""
    if content_type and (m := _HEADER_CHARSET.search(content_type)):
        codec = codec_for(m.group(1))
        if codec:
            return codec
    head = body[:META_WINDOW]
    found = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if found:
        return codec_for(found.group(1).decode("ascii", "replace"))
    return None


def decode(body: bytes, content_type: str | None = None) -> str:
    """Decode a page: BOM, then header charset, then <meta>, then detection; never raises.

    A declaration is trusted only if the bytes decode cleanly with it, because a page that says
    UTF-8 and is really windows-1252 is common, and detection is the better guess then.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    declared = declared_charset(body, content_type)
    if declared is not None:
        try:
            return body.decode(declared)
        except UnicodeError:  # UnicodeDecodeError, or a codec's plain UnicodeError
            pass
    # UTF-8 is the common case, and strict UTF-8 rarely passes by luck; a handful of stray bytes
    # in an otherwise UTF-8 page is a broken page, not a different charset.
    text = body.decode("utf-8", "replace")
    if text.count("\ufffd") <= max(2, len(text) // 2000):
        return text
    return body.decode(detect(body) or declared or "cp1252", "replace")


def detect(body: bytes) -> str | None:
    """Guess the charset of undeclared bytes; None when nothing fits.

    Of charset-normalizer's candidates, the most coherent text wins (short Western pages fit
    several Latin code pages equally well, and windows-1252 is then the web's usual answer).
    """
    results = list(from_bytes(body[:200_000]))
    if not results:
        return None
    best = max(
        results, key=lambda m: (round(m.coherence, 2), -round(m.chaos, 2), m.encoding == "cp1252")
    )
    return codec_for(best.encoding)
