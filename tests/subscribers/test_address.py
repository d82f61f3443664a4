"""Email addresses: what is accepted, its one stored form, and a clear 422 for the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadr.errors import ValidationFailed
from threadr.subscribers.address import MAX_ADDRESS, MAX_LOCAL, normalise


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee+news@Example.COM \n", "ann.lee+news@example.com"),
        ("ann@example.com.", "ann@example.com"),  # the root's dot
        ("ann@Bücher.DE", "ann@xn--bcher-kva.de"),  # IDNA, UTS 46 mapping
        ("ann@xn--bcher-kva.de", "ann@xn--bcher-kva.de"),  # the same mailbox, one key
        ("ann@faß.de", "ann@xn--fa-hia.de"),  # IDNA 2008, not 2003's "fass.de"
        ("ann@ＥＸＡＭＰＬＥ.com", "ann@example.com"),  # full-width letters map (UTS 46)
        ("Zoë@example.com", "zoë@example.com"),  # RFC 6531 local part
        ("o'brien@example.com", "o'brien@example.com"),
    ],
)
def test_addresses_are_stored_in_one_form(raw: str, stored: str) -> None:
    assert normalise(raw) == stored


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("ann.example.com", "it has no @"),
        ("@example.com", "nothing before the @"),
        ("ann@", "no domain after the @"),
        ("ann@@example.com", "more than one @"),
        ('"ann lee"@example.com', "spaces"),
        ('"ann"@example.com', "quoted local parts"),
        ("ann lee@example.com", "spaces or control characters"),
        ("ann\x00@example.com", "spaces or control characters"),
        ("ann@exa\u200bmple.com", "spaces or control characters"),
        (".ann@example.com", "characters or dots"),
        ("ann.@example.com", "characters or dots"),
        ("an..n@example.com", "characters or dots"),
        ("an(n)@example.com", "characters or dots"),
        ("ann@localhost", "needs a dot"),
        ("ann@[192.0.2.1]", "address literals"),
        ("ann@192.0.2.1", "not a valid domain"),
        ("ann@exa_mple.com", "not a valid domain"),
        ("ann@-example.com", "not a valid domain"),
        ("ann@example..com", "not a valid domain"),
        ("ann@.com", "not a valid domain"),
        ("ann@xn--zz.com", "not a valid domain"),  # a broken punycode label
        ("a" * (MAX_LOCAL + 1) + "@example.com", f"longer than {MAX_LOCAL} bytes"),
        ("é" * 33 + "@example.com", f"longer than {MAX_LOCAL} bytes"),  # 66 octets
        ("ann@" + "a" * 64 + ".com", "not a valid domain"),  # a label of 64
        ("x" * 5000, f"longer than {MAX_ADDRESS}"),
    ],
)
def test_what_is_not_an_address_is_a_clear_422(raw: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalise(raw)
    assert (refused.value.status, refused.value.code) == (422, "invalid_email")
    assert refused.value.detail.startswith("That is not an email address we can use: ")
    assert says in refused.value.detail


def test_the_length_bounds_are_the_rfc_ones() -> None:
    local = "a" * MAX_LOCAL
    assert normalise(f"{local}@example.com") == f"{local}@example.com"
    labels = ".".join(["b" * 63] * 2)  # 127 characters of domain
    domain = labels + "." + "c" * (MAX_ADDRESS - len(local) - 1 - len(labels) - 1)
    longest = f"{local}@{domain}"
    assert len(longest) == MAX_ADDRESS
    assert normalise(longest) == longest
    with pytest.raises(ValidationFailed, match=f"longer than {MAX_ADDRESS} bytes"):
        normalise(f"{local}@{domain}c")


@given(st.text(max_size=300))
def test_any_text_is_an_address_or_a_validation_error(raw: str) -> None:
    try:
        stored = normalise(raw)
    except ValidationFailed as exc:
        refused: ValidationFailed | None = exc
    else:
        refused = None
    if refused is not None:
        assert (refused.status, refused.code) == (422, "invalid_email")
        return
    assert normalise(stored) == stored  # the stored form is a fixed point
    assert stored == stored.lower()
    assert len(stored.encode()) <= MAX_ADDRESS


@given(st.from_regex(r"[A-Za-z0-9._%+-]{1,20}@[A-Za-z0-9-]{1,20}\.[A-Za-z]{2,6}", fullmatch=True))
def test_spellings_of_one_address_are_one_key(raw: str) -> None:
    try:
        stored = normalise(raw)
    except ValidationFailed:
        return
    assert normalise(f"  {raw.upper()}\t") == stored == raw.lower()


def test_composed_and_decomposed_letters_are_one_mailbox() -> None:
    assert normalise("e\u0301lise@example.com") == normalise("\u00e9lise@example.com")
