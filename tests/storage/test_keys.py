"""Key names: every key under `threadr:`, identities that cannot escape their hash tag."""

from __future__ import annotations

import pytest

from threadr.storage import keys
from threadr.storage.keys import identity_tag


@pytest.mark.parametrize("identity", ["203.0.113.5", "2001:db8::1", "user:42"])
def test_plain_identities_are_kept(identity: str) -> None:
    assert identity_tag(identity) == identity


@pytest.mark.parametrize("identity", ["a}b", "{victim}", "x" * 65, "", "spa ce", "ü"])
def test_other_identities_are_hashed(identity: str) -> None:
    tag = identity_tag(identity)
    assert tag.startswith("#")
    assert len(tag) == 33
    assert "{" not in tag
    assert "}" not in tag


def test_every_key_name_is_under_the_root() -> None:
    names = [n for n in dir(keys) if n.isupper() and isinstance(getattr(keys, n), str)]
    assert {"CACHE_PREFIX", "RATE_LIMIT_PREFIX", "QUOTA_PREFIX", "SUBSCRIBERS_PREFIX"} <= set(names)
    assert all(getattr(keys, name).startswith("threadr:") for name in names), names
    assert keys.cache_key("url", "ab") == "threadr:cache:v1:url:ab"
