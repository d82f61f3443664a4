"""GET /api/usage/analytics (admin): the daily usage series as JSON, or as CSV with
`?format=csv`."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from threadr.analytics.series import DayUsage, read
from threadr.errors import ValidationFailed

from .admin import require_admin
from .context import services
from .responses import JSON

DEFAULT_DAYS = 7
FORMATS = ("json", "csv")
_COLUMNS = (
    "date",
    "generations_url",
    "generations_text",
    "generations_openai",
    "generations_offline",
    "cache_hits",
    "cache_misses",
    "offline_fallbacks",
    "rate_limited",
    "quota_exceeded",
    "registrations",
    "premium_grants",
    "subscriptions",
    "unique_users",
)


def parse_days(raw: str | None, most: int) -> int:
    """`?days=` as a number of days, 1..`most` (ANALYTICS_RETENTION_DAYS), or a 422."""
    if raw is None:
        return min(DEFAULT_DAYS, most)
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ValidationFailed(
            f"days must be a whole number from 1 to {most} (ANALYTICS_RETENTION_DAYS).",
            code="invalid_days",
        )
    return int(raw)


async def usage_analytics(request: Request) -> Response:
    """GET /api/usage/analytics?days=N[&format=csv]: the last N UTC days, today last."""
    await require_admin(request)
    running = services(request)
    days = parse_days(request.query_params.get("days"), running.settings.analytics_retention_days)
    wanted = request.query_params.get("format", "json")
    if wanted not in FORMATS:
        raise ValidationFailed("format must be json or csv.", code="invalid_format")
    series = await read(running.cache.gateway, days, time.time())
    if wanted == "json":
        return JSON(series)
    return StreamingResponse(
        _csv(series.days),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="usage-analytics.csv"',
            "Cache-Control": "no-store",
        },
    )


def _csv(days: list[DayUsage]) -> Iterator[str]:
    """One row a day; errors as one `errors_<code>` column per code seen in the range."""
    codes = sorted({code for day in days for code in day.errors})
    yield _row([*_COLUMNS, *(f"errors_{code}" for code in codes)])
    for day in days:
        g = day.generations
        values: list[str | int] = [
            day.date, g.url, g.text, g.openai, g.offline, day.cache_hits, day.cache_misses,
            day.offline_fallbacks, day.rate_limited, day.quota_exceeded, day.registrations,
            day.premium_grants, day.subscriptions, day.unique_users,
        ]  # fmt: skip
        yield _row([*values, *(day.errors.get(code, 0) for code in codes)])


def _row(values: list[str | int]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()
