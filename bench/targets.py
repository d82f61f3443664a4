"""The targets a `make bench` result is held to (issue #16), each met or not, with its figure and
the range of its per-round values."""

from __future__ import annotations

from typing import Any, NamedTuple

HEADLINE = "service, production"
SIGNED_IN = "service, production, signed in"


class Check(NamedTuple):
    what: str
    met: bool | None  # None: not measured in this run
    measured: str


def _rounds(row: dict[str, Any], reference: dict[str, Any]) -> list[float]:
    return [s / r for s, r in zip(row["all_rps"], reference["all_rps"], strict=False) if r]


def _ratio(result: dict[str, Any], scenario: str, target: str, floor: float, what: str) -> Check:
    rows = result.get(scenario, {})
    row, ref = rows.get(target), rows.get("reference")
    if not row or not ref:
        return Check(what, None, "not measured")
    rounds = _rounds(row, ref)
    spread = f" (rounds {min(rounds):.2f}–{max(rounds):.2f})" if rounds else ""
    return Check(what, row["ratio"] >= floor, f"{row['ratio']:.2f}×{spread}")


def checks(result: dict[str, Any]) -> list[Check]:
    """Each target of the benchmark, measured or not."""
    out = [
        _ratio(
            result,
            "cache_hit",
            HEADLINE,
            1.0,
            "cache hit, production (limiter, quota, analytics, metrics, CORS) ≥ 1.0× the bare "
            "reference",
        ),
        _ratio(
            result,
            "cache_hit",
            SIGNED_IN,
            0.8,
            "signed-in cache hit (session lookup included) ≥ 0.8× the bare reference",
        ),
        _ratio(result, "health", HEADLINE, 1.0, "/health ≥ 1.0× a bare Starlette constant route"),
        _redis_cpu(result),
        _tail(result),
    ]
    for kind, row in result.get("coalescing", {}).items():
        statuses = {int(k): v for k, v in row["statuses"].items()}
        out.append(
            Check(
                f"{row['requests']} concurrent identical misses by {kind} → 1 OpenAI call",
                row["openai_calls"] == 1 and statuses == {200: row["requests"]},
                f"{row['openai_calls']} call(s); "
                + ", ".join(f"{n} × {code}" for code, n in row["statuses"].items()),
            )
        )
    return out


def _redis_cpu(result: dict[str, Any]) -> Check:
    what = "Redis CPU per cache hit ≤ 2× the reference's (production)"
    rows = result.get("cache_hit", {})
    row, ref = rows.get(HEADLINE), rows.get("reference")
    if not row or not ref or not ref["redis_cpu_us"]:
        return Check(what, None, "not measured")
    ratio = row["redis_cpu_us"] / ref["redis_cpu_us"]
    per_round = [
        s / r for s, r in zip(row["all_redis_cpu_us"], ref["all_redis_cpu_us"], strict=False) if r
    ]
    spread = f"; rounds {min(per_round):.2f}–{max(per_round):.2f}×" if per_round else ""
    return Check(
        what,
        ratio <= 2.0,
        f"{ratio:.2f}× ({row['redis_cpu_us']:.1f} µs against {ref['redis_cpu_us']:.1f}{spread})",
    )


def _tail(result: dict[str, Any]) -> Check:
    mixed = result.get("mixed")
    what = "cache-hit p99 with 5 % misses on real pages ≤ 1.5× pure cache hits at the same rate"
    if not mixed:
        return Check(what, None, "not measured")
    return Check(
        what,
        mixed["ratio"] <= 1.5,
        f"{mixed['ratio']:.2f}× ({mixed['mixed_hit']['p99']:.1f} ms against "
        f"{mixed['pure_hit']['p99']:.1f} ms at {mixed['rate']:g} req/s; rounds "
        f"{min(mixed['ratios']):.2f}–{max(mixed['ratios']):.2f}×)",
    )
