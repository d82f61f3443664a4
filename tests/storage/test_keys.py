"""Key names: every key under `threadr:`, identities that cannot escape their hash tag."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from threadr.accounts.premium import account_holder
from threadr.limits.quota import _keys, _period_of
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


def slots(*names: str | bytes) -> set[int]:
    return {key_slot(name.encode() if isinstance(name, str) else name) for name in names}


def test_what_one_script_touches_is_in_one_cluster_slot() -> None:
    """Redis Cluster runs a script on one node: all its KEYS in one hash slot (integration/
    test_cluster.py runs every script on a real cluster)."""
    user = "u-123"
    # Sessions (open, touch with the account's premium, list, close) and saved threads.
    assert (
        len(
            slots(
                keys.session_key(user, "ab" * 32),
                keys.session_index_key(user),
                keys.premium_key(account_holder(user)),
                keys.history_index_key(user),
                keys.history_record_key(user, "t1"),
            )
        )
        == 1
    )
    # A client's rate limits and free-tier counts (and the quota status's MGET).
    for identity in ("203.0.113.5", "user:42", "register:2001:db8::", "spa ce"):
        tag = identity_tag(identity)
        assert len(slots(f"threadr:rl:{{{tag}}}:burst", f"threadr:rl:{{{tag}}}:hourly")) == 1
        reserved = _keys(identity, _period_of(1_700_000_000))
        assert len(slots(*reserved, f"threadr:rl:{{{tag}}}:burst")) == 1
    assert len(slots(keys.SUBSCRIBER_RECORDS, keys.SUBSCRIBER_INDEX, keys.SUBSCRIBER_SOURCES)) == 1
