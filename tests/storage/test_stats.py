"""What the operator endpoints report of a Redis Cluster (its primaries' INFO added up), and the
eviction policies they and check-config warn of: those that may drop a key the service must
keep (a real Redis's, in integration/test_faults.py)."""

from __future__ import annotations

import pytest

from threadr.storage.stats import eviction_warnings, from_info, human_bytes, merge_info


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0B"), (1023, "1023B"), (1024, "1.00K"), (1536, "1.50K"), (2359296, "2.25M"),
     (1 << 30, "1.00G"), (5 << 40, "5.00T")],
)  # fmt: skip
def test_bytes_are_shown_as_info_shows_them(n: int, shown: str) -> None:
    assert human_bytes(n) == shown


def test_the_primaries_info_is_added_up() -> None:
    primaries = [
        {
            "used_memory": 1024 * 1024,
            "used_memory_peak": 2 * 1024 * 1024,
            "connected_clients": 3,
            "evicted_keys": 0,
            "maxmemory_policy": "noeviction",
            "uptime_in_seconds": 500,
            "instantaneous_ops_per_sec": 10,
            "keyspace_hits": 7,
            "keyspace_misses": 1,
        },
        {
            "used_memory": 512 * 1024,
            "used_memory_peak": 1024 * 1024,
            "connected_clients": 2,
            "evicted_keys": 4,
            "maxmemory_policy": "allkeys-lru",
            "uptime_in_seconds": 20,
            "instantaneous_ops_per_sec": 5,
            "keyspace_hits": 3,
            "keyspace_misses": 2,
        },
        {"used_memory": 512 * 1024, "maxmemory_policy": "noeviction"},  # one hides the rest
    ]
    shown = from_info(
        merge_info(primaries), cache_entries=1, hits=2, misses=3, rate_limit_entries=None
    )
    assert shown.memory_used == "2.00M" and shown.used_memory_peak == "3.00M"
    assert (shown.connected_clients, shown.evicted_keys, shown.ops_per_sec) == (5, 4, 15)
    assert (shown.keyspace_hits, shown.keyspace_misses) == (10, 3)
    assert shown.maxmemory_policy == "allkeys-lru,noeviction"  # a policy that evicts shows
    assert shown.uptime_s == 20  # the youngest primary: the restart an operator looks for


def test_nothing_reported_stays_unknown() -> None:
    shown = from_info(merge_info([{}]), cache_entries=0, hits=0, misses=0, rate_limit_entries=0)
    assert shown.memory_used is None and shown.maxmemory_policy is None


@pytest.mark.parametrize("policy", [None, "noeviction", "volatile-lru", "volatile-lfu"])
def test_policies_that_keep_what_must_stay_are_not_warned_of(policy: str | None) -> None:
    assert eviction_warnings(policy) == []


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_allkeys_policies_may_drop_accounts_and_limits(policy: str) -> None:
    [warning] = eviction_warnings(policy)
    assert policy in warning
    for what in ("rate-limit", "free-tier", "sessions", "accounts", "premium"):
        assert what in warning
    assert "noeviction or volatile-lru" in warning


def test_volatile_ttl_drops_the_counters_first() -> None:
    [warning] = eviction_warnings("volatile-ttl")
    assert "rate-limit and free-tier counters" in warning


def test_a_policy_it_does_not_know_is_warned_of() -> None:
    [warning] = eviction_warnings("optimistic-volatile")
    assert "does not know" in warning


def test_each_policy_of_a_cluster_is_judged() -> None:
    [warning] = eviction_warnings("allkeys-lru,noeviction")  # merge_info's list
    assert "allkeys-lru" in warning
