"""The input rulebook: canonical URLs and texts, their digests, and what is refused and why."""

import pytest

from tests.factories import make_settings
from threadr.articles.netguard import parse_target
from threadr.errors import BlockedURL, ThreadrError, ValidationFailed
from threadr.source import Source, check_scheme, digest, normalize_text, normalize_url, validate

SETTINGS = make_settings()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://Example.COM:443/a/b?b=2&a=1#frag", "https://example.com/a/b?a=1&b=2"),
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
