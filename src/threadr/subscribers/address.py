"""Email addresses as the service stores them: validated, trimmed, lower-cased, the domain in its
IDNA (UTS 46) ASCII form, so that every spelling of one mailbox is one key. Pure: no I/O, reusable
by accounts (issue #11)."""

from __future__ import annotations

import re
import unicodedata

import idna

from threadr.errors import ValidationFailed

# RFC 5321 §4.5.3.1: a local part of at most 64 octets, a path of at most 256 octets, which
# leaves 254 for the address between its angle brackets (RFC 3696 erratum 1690).
MAX_LOCAL = 64
MAX_ADDRESS = 254
MAX_DOMAIN = 253
# Anything longer is refused before any parsing: bounds the work an abusive body can cause.
MAX_INPUT = 1024

# The dot-atom of RFC 5322 §3.2.3: atext runs joined by single dots. Non-ASCII letters are
# accepted too (RFC 6531, internationalised local parts); quoted local parts are not.
_ATEXT = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x7f])+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
# An LDH label (RFC 1123) as IDNA's encoder gives it back.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _invalid(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"That is not an email address we can use: {reason}", code="invalid_email"
    )


def normalise(raw: str) -> str:
    """The stored form of `raw` (`" Ann@Bücher.DE "` → `"ann@xn--bcher-kva.de"`); a
    ValidationFailed (422, `invalid_email`) saying what is wrong otherwise."""
    if len(raw) > MAX_INPUT:
        raise _invalid(f"it is longer than {MAX_ADDRESS} characters.")
    text = raw.strip()
    if not text:
        raise _invalid("it is empty.")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise _invalid("it contains spaces or control characters.")
    local, at, domain = text.rpartition("@")
    if not at:
        raise _invalid("it has no @.")
    if not local:
        raise _invalid("there is nothing before the @.")
    if not domain:
        raise _invalid("there is no domain after the @.")
    if local.startswith('"') or "@" in local:
        raise _invalid("quoted local parts and more than one @ are not accepted.")
    if not _LOCAL.fullmatch(local):
        raise _invalid("the part before the @ has characters or dots an address cannot have.")
    # NFC first: "é" typed composed or decomposed is one mailbox (RFC 6532 asks for NFC), and
    # the input is at most 1,024 characters, so NFC's cost on runs of marks stays bounded.
    local = unicodedata.normalize("NFC", local).lower()
    if len(local.encode("utf-8")) > MAX_LOCAL:
        raise _invalid(f"the part before the @ is longer than {MAX_LOCAL} bytes.")
    ascii_domain = _domain(domain)
    address = f"{local}@{ascii_domain}"
    if len(address.encode("utf-8")) > MAX_ADDRESS:
        raise _invalid(f"it is longer than {MAX_ADDRESS} bytes.")
    return address


def _domain(domain: str) -> str:
    """The domain in IDNA ASCII form (UTS 46 mapping, as browsers and mail clients map it)."""
    if domain.startswith("["):
        raise _invalid("address literals ([192.0.2.1]) are not accepted; use a domain name.")
    if domain.endswith("."):
        domain = domain[:-1]  # the root's dot: `example.com.` is `example.com`
    if len(domain) > MAX_DOMAIN:
        raise _invalid(f"the domain is longer than {MAX_DOMAIN} characters.")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (UnicodeError, ValueError) as exc:  # idna.IDNAError is a UnicodeError
        raise _invalid("the domain is not a valid domain name.") from exc
    labels = ascii_domain.split(".")
    if len(labels) < 2:
        raise _invalid("the domain needs a dot (example.com).")
    if not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise _invalid("the domain is not a valid domain name.")
    if len(ascii_domain) > MAX_DOMAIN:
        raise _invalid(f"the domain is longer than {MAX_DOMAIN} characters.")
    return ascii_domain
