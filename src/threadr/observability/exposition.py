"""Rendering a registry in the Prometheus text format (or OpenMetrics, when asked).

With several workers the registry's collector reads every worker's memory-mapped files from
PROMETHEUS_MULTIPROC_DIR: disk reads that grow with the number of workers and metrics, so they
run on a worker thread instead of the event loop. That is file I/O only — nothing here talks
to Redis, whose calls stay natively async (storage/)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder


async def expose(
    registry: CollectorRegistry, accept: str, *, from_files: bool
) -> tuple[bytes, str]:
    """The exposition of `registry` in the format `accept` asks for, and its content type;
    `from_files`: the registry reads the multiprocess files (off the event loop)."""
    encode, content_type = choose_encoder(accept)
    if from_files:
        return await asyncio.to_thread(encode, registry), content_type
    return encode(registry), content_type
