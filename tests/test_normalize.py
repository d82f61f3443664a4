import pytest

from threadr.normalize import digest, normalize_text, normalize_url


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
