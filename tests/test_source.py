"""The input rulebook: canonical URLs and texts, their digests, and what is refused and why."""

import string
import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.factories import make_settings
from tests.watchdog import Watchdog
from threadr.articles.fetch import Fetcher
from threadr.articles.netguard import parse_target
from threadr.errors import BlockedURL, ThreadrError, ValidationFailed
from threadr.source import (
    _TRACKING as TRACKING,
)
from threadr.source import (
    DECOMPOSING_STARTERS,
    Source,
    canonical_alias,
    check_scheme,
    digest,
    long_mark_runs,
    normalize_text,
    normalize_url,
    validate,
)

SETTINGS = make_settings()
TLDS = ["com", "org", "de", "co.uk", "рф", "io"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://Example.COM:443/a/b?b=2&a=1#frag", "https://example.com/a/b?b=2&a=1"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        (
            "https://example.com/p?utm_source=x&utm_medium=y&id=7&fbclid=z&gclid=q",
            "https://example.com/p?id=7",
        ),
        ("https://example.com./p", "https://example.com/p"),
        ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),
        ("  https://example.com/Case/Kept  ", "https://example.com/Case/Kept"),
    ],
)
def test_urls_normalise(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


def test_tracking_variants_share_a_digest() -> None:
    a = normalize_url("https://Example.com/post?utm_campaign=x#top")
    b = normalize_url("https://example.com/post")
    assert digest(a) == digest(b)


@pytest.mark.parametrize("raw", ["example.com/x", "not a url", "https://", "http://h:99999/"])
def test_bad_urls_raise(raw: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        normalize_url(raw)


def test_text_normalises_whitespace_and_unicode() -> None:
    assert normalize_text("  Cafe\u0301 \r\nline  \n\n\n\nend ") == "Café\nline\n\nend"
    assert normalize_text(" \n\t ") == ""


def test_exactly_one_of_url_or_text() -> None:
    for url, text in ((None, None), ("https://example.com/", "Some text.")):
        with pytest.raises(ValidationFailed) as caught:
            validate(url, text, SETTINGS)
        assert caught.value.code == "url_or_text"


@pytest.mark.parametrize(
    ("text", "code"),
    [(" \n\t ", "empty_text"), ("x" * 10_001, "text_too_long")],
)
def test_unusable_text_is_refused_with_a_reason(text: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(None, text, SETTINGS)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("url", "error", "code"),
    [
        ("https://example.com/" + "a" * 2048, ValidationFailed, "invalid_url"),
        ("not a url", ValidationFailed, "invalid_url"),
        ("ftp://example.com/file", BlockedURL, "url_scheme"),
        ("https://user:pw@example.com/post", BlockedURL, "url_userinfo"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(
    url: str, error: type[ThreadrError], code: str
) -> None:
    with pytest.raises(error) as caught:
        validate(url, None, SETTINGS)
    assert caught.value.code == code


def test_the_refusals_are_sentences_shared_with_the_fetcher() -> None:
    with pytest.raises(BlockedURL) as scheme:
        validate("ftp://example.com/file", None, SETTINGS)
    assert scheme.value.detail == "Only http:// and https:// links can be fetched."
    with pytest.raises(BlockedURL) as userinfo:
        parse_target("https://user:pw@example.com/", SETTINGS)  # a redirect hop, say
    assert userinfo.value.detail == "Links with a user name or password in them are not fetched."


def test_a_source_carries_its_normal_form_and_digest() -> None:
    source = validate(" https://Example.com/a?utm_source=x ", None, SETTINGS)
    assert source == Source("url", "https://example.com/a", digest("https://example.com/a"))
    text = validate(None, "  Hello\r\nthere  ", SETTINGS)
    assert (text.kind, text.value) == ("text", "Hello\nthere")


@pytest.mark.parametrize("scheme", ["javascript", "file", "data"])
def test_the_scheme_rule_is_the_fetchers_too(scheme: str) -> None:
    with pytest.raises(BlockedURL, match="Only http"):
        check_scheme(scheme)
    with pytest.raises(BlockedURL, match="Only http"):
        parse_target(f"{scheme}://example.com/", SETTINGS)


# Issue #10, defect 2: nothing a client sends may cost quadratic work before the rate limiter.
# Most inputs here took seconds (one blocked event loop) with the old `[ \t]+\n` pattern or NFC.
RUN = 65_000


@pytest.mark.parametrize(
    "text",
    [
        " " * RUN + "x \n",  # one space run that ends in a letter, a trailing space elsewhere
        "\t" * RUN + "x \n",
        " \t" * (RUN // 2) + "x \n",
        " \n" * (RUN // 2),
    ],
    ids=["spaces", "tabs", "mixed", "trailing-on-every-line"],
)
async def test_whitespace_runs_normalise_in_linear_time(text: str, watchdog: Watchdog) -> None:
    assert normalize_text(text) == ("x" if "x" in text else "")


@pytest.mark.parametrize(
    "text",
    [
        "e" + "\u0301" * RUN,  # one mark, repeated: composes once, no reordering
        "e" + "\u0301\u0316" * (RUN // 2),  # classes 230 and 220 alternating: NFC reorders
        "a" + "\u0f73" * 20_000,  # a starter that decomposes into two marks of two classes
    ],
    ids=["one-mark", "alternating-marks", "tibetan-vowel-signs"],
)
async def test_combining_mark_runs_are_refused_in_linear_time(
    text: str, watchdog: Watchdog
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_text(text)
    assert caught.value.code == "too_many_marks"


def test_a_run_of_thirty_marks_is_still_text() -> None:
    # NFC sorts the 30 marks by class (220 before 230) and composes the first 230 into the é.
    sorted_marks = "\u0316" * 15 + "\u0301" * 14
    assert normalize_text("Cafe" + "\u0301\u0316" * 15) == "Caf\u00e9" + sorted_marks
    with pytest.raises(ValidationFailed):
        normalize_text("Cafe" + "\u0301\u0316" * 15 + "\u0301")
    already_nfc = "Caf\u00e9\u0301"  # in NFC already: never normalised, so never counted
    assert normalize_text(already_nfc) == already_nfc


async def test_an_overlong_text_is_refused_before_it_is_normalised(watchdog: Watchdog) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(None, " " * RUN + "x \n", SETTINGS)
    assert caught.value.code == "text_too_long"
    assert "65,003 characters" in caught.value.detail


def test_whitespace_padded_text_within_the_limit_passes() -> None:
    # 9,000 characters of words in lines padded with spaces to 120 columns, CRLF endings:
    # nearly 3× as long as sent as once normalised, which must not count against the limit.
    line = "word " * 8 + "x"
    text = "\r\n".join(line.ljust(120) for _ in range(9_000 // (len(line) + 1)))
    assert len(text) > 2.5 * SETTINGS.max_content_length
    source = validate(None, text, SETTINGS)
    assert len(source.value) <= SETTINGS.max_content_length


def test_the_starters_that_decompose_into_marks_are_all_known() -> None:
    # NFC reorders the marks a character decomposes into: a starter (class 0) whose
    # decomposition begins with a mark extends a run like a mark does. Checked against this
    # Python's Unicode tables, so a new Unicode version that adds one fails here.
    found = {
        ch
        for ch in map(chr, range(0x110000))
        if unicodedata.decomposition(ch)[:1] not in ("", "<")
        and not unicodedata.combining(ch)
        and unicodedata.combining(unicodedata.normalize("NFD", ch)[0])
    }
    assert found == set(DECOMPOSING_STARTERS)


# Issue #10, defect 8: normalising a URL must not change what is fetched.


def test_query_bytes_are_kept_as_sent() -> None:
    e_acute = validate("https://example.com/s?q=caf%E9", None, SETTINGS)
    e_grave = validate("https://example.com/s?q=caf%E8", None, SETTINGS)
    assert e_acute.value == "https://example.com/s?q=caf%E9"
    assert e_grave.value == "https://example.com/s?q=caf%E8"
    assert e_acute.digest != e_grave.digest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://e.com/p?b=2&utm_source=x&a=1", "https://e.com/p?b=2&a=1"),
        ("https://e.com/p?q=a+b&r=%2F&s=%7e&t", "https://e.com/p?q=a+b&r=%2F&s=%7e&t"),
        ("https://e.com/p?utm%5Fsource=x&id=%E9", "https://e.com/p?id=%E9"),
        ("https://e.com/p?FBCLID=1", "https://e.com/p"),
    ],
)
def test_only_tracking_parameters_leave_the_query(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://faß.de/", "xn--fa-hia.de"),  # IDNA 2008, as browsers: not "fass.de"
        ("https://FASS.DE/", "fass.de"),  # which stays a different site
        ("https://ΑΣ.gr/", "xn--mxa0b.gr"),  # UTS 46 maps Σ to σ; Python's lower() gives ς
        ("https://exam\u00adple.com/", "example.com"),  # UTS 46 ignores a soft hyphen
        ("https://ｅｘａｍｐｌｅ．com/", "example.com"),  # and maps fullwidth forms
    ],
)
def test_hosts_are_mapped_as_a_browser_maps_them(raw: str, host: str) -> None:
    assert normalize_url(raw) == f"https://{host}/"


@pytest.mark.parametrize(
    "raw",
    [
        "https://exa\u200dmple.com/",  # a joiner outside the scripts that need one
        "https://exa\u202emple.com/",  # a bidi override
        "https://exa\u200emple.com/",  # a left-to-right mark
        "https://a..bü.de/",  # an empty label
    ],
)
def test_a_host_idna_refuses_is_an_invalid_url(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(raw, None, SETTINGS)
    assert caught.value.code == "invalid_url"
    assert "host name" in caught.value.detail


@pytest.mark.parametrize(
    ("raw", "host"),
    [("https://faß.de/x", "xn--fa-hia.de"), ("https://bücher.de/x", "xn--bcher-kva.de")],
)
def test_normalised_idn_urls_pass_netguard(raw: str, host: str) -> None:
    target = parse_target(normalize_url(raw), SETTINGS)
    assert (target.host, target.url) == (host, f"https://{host}/x")


async def test_the_fetched_url_keeps_the_query_bytes() -> None:
    seen: list[bytes] = []

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    def page(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(
            200, stream=httpx.ByteStream(b"<p>Hi.</p>"), headers={"content-type": "text/html"}
        )

    fetcher = Fetcher(SETTINGS, transport=httpx.MockTransport(page), resolver=resolve)
    try:
        source = validate("https://example.com/s?q=caf%E9&utm_medium=x", None, SETTINGS)
        await fetcher.fetch(source.value)
    finally:
        await fetcher.aclose()
    assert seen == [b"/s?q=caf%E9"]


@pytest.mark.parametrize(
    ("page", "named", "expected"),
    [
        ("https://news.example/amp/a", "https://news.example/a", "https://news.example/a"),
        (
            "https://amp.news.example/a",
            "https://www.news.example/a#top",
            "https://www.news.example/a",
        ),
        (
            "https://m.news.example/a",
            "HTTPS://NEWS.example/a?utm_source=x",
            "https://news.example/a",
        ),
        ("https://news.example/a", "http://news.example/a", "http://news.example/a"),
        ("http://127.0.0.1:8080/amp/a", "http://127.0.0.1:8080/a", "http://127.0.0.1:8080/a"),
        # Another site, another port, a suffix, http speaking for https, not a web URL:
        ("https://evil.example/a", "https://bank.example/a", None),
        ("https://news.example.evil.example/a", "https://news.example/a", None),
        ("https://m.com/a", "https://com/a", None),
        ("https://news.example:8443/a", "https://news.example/a", None),
        ("http://news.example/a", "https://news.example/a", None),
        ("https://news.example/a", "https://user@news.example/a", None),
        ("https://news.example/a", "javascript:alert(1)", None),
        ("https://news.example/a", "/relative", None),
        ("https://news.example/a", "https://news.example/" + "x" * 2100, None),
    ],
)
def test_a_page_may_name_only_its_own_site_as_canonical(
    page: str, named: str, expected: str | None
) -> None:
    assert canonical_alias(page, named) == expected
# --- properties of the canonical forms ----------------------------------------------------------

_labels = st.lists(
    st.one_of(
        st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12),
        st.sampled_from(["bücher", "faß", "пример", "例え", "café", "xn--bcher-kva"]),
    ),
    min_size=1,
    max_size=4,
)
_hosts = st.builds(lambda labels, tld: ".".join([*labels, tld]), _labels, st.sampled_from(TLDS))
_segments = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~%!$'()*+,;=:@", max_size=12
)
_paths = st.lists(_segments, max_size=4).map(lambda parts: "".join("/" + p for p in parts))
_names = st.one_of(
    st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8),
    st.sampled_from(["utm_source", "UTM_Campaign", "fbclid", "gclid", "utm%5Fmedium", "si"]),
)
_params = st.lists(
    st.tuples(_names, st.text(alphabet=string.ascii_letters + string.digits + "%-", max_size=8)),
    max_size=5,
)


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A URL that normalises, and the parts it was made of."""
    parts: dict[str, Any] = {
        "scheme": draw(st.sampled_from(["http", "https", "HTTP", "Https"])),
        "host": draw(_hosts),
        "port": draw(st.one_of(st.none(), st.sampled_from([80, 443, 8080]))),
        "path": draw(_paths),
        "params": draw(_params),
        "fragment": draw(st.one_of(st.none(), st.text(alphabet=string.ascii_letters, max_size=6))),
    }
    return _url(**parts), parts


def _url(
    scheme: str,
    host: str,
    port: int | None,
    path: str,
    params: list[tuple[str, str]],
    fragment: str | None,
) -> str:
    url = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + path
    if params:
        url += "?" + "&".join(f"{name}={value}" for name, value in params)
    return url + (f"#{fragment}" if fragment is not None else "")


@settings(max_examples=100, deadline=None)
@given(urls())
def test_normalising_a_url_is_idempotent(made: tuple[str, dict[str, Any]]) -> None:
    url, _ = made
    normal = normalize_url(url)
    assert normalize_url(normal) == normal
    assert normal.isascii() and normal == normal.strip()


@settings(max_examples=100, deadline=None)
@given(urls(), st.lists(st.sampled_from(sorted(TRACKING)), max_size=3), st.data())
def test_spellings_of_one_url_share_its_normal_form(
    made: tuple[str, dict[str, Any]], tracking: list[str], data: st.DataObject
) -> None:
    url, parts = made
    normal = normalize_url(url)
    default = {"http": 80, "https": 443}[parts["scheme"].lower()]
    # Tracking parameters anywhere, the scheme and host in any case, the default port spelt
    # out, another fragment: the same page, the same cache entry.
    params = list(parts["params"])
    for name in tracking:
        params.insert(data.draw(st.integers(0, len(params))), (name, "x"))
    respelt: dict[str, Any] = parts | {
        "scheme": parts["scheme"].swapcase(),
        "host": parts["host"].upper() if parts["host"].isascii() else parts["host"],
        "port": default if parts["port"] is None else parts["port"],
        "params": params,
        "fragment": "elsewhere",
    }
    assert normalize_url(_url(**respelt)) == normal


@settings(max_examples=100, deadline=None)
@given(urls())
def test_the_path_and_the_other_parameters_keep_their_bytes_and_order(
    made: tuple[str, dict[str, Any]],
) -> None:
    url, parts = made
    normal = urlsplit(normalize_url(url))
    assert normal.path == (parts["path"] or "/")
    kept = [
        f"{name}={value}"
        for name, value in parts["params"]
        if not unquote(name).lower().startswith(("utm_", "pk_", "hsa_"))
        and unquote(name).lower() not in TRACKING
    ]
    assert normal.query == "&".join(kept)
    assert normal.fragment == ""
    assert normal.scheme == parts["scheme"].lower()


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_normalising_a_text_is_idempotent_and_only_touches_whitespace(text: str) -> None:
    assume(not long_mark_runs(text))
    normal = normalize_text(text)
    assert normalize_text(normal) == normal
    assert "\r" not in normal and "\n\n\n" not in normal and normal == normal.strip()
    assert "".join(normal.split()) == "".join(unicodedata.normalize("NFC", text).split())
    # Line endings and trailing spaces do not make another cache entry. (From the normal form:
    # in a text holding "\r", turning "\n" into " \r\n" would add line breaks of its own.)
    assert normalize_text(normal.replace("\n", " \r\n")) == normal
