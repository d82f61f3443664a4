"""Log lines: readable text in development, one JSON object a line in production, each carrying
the id of the request it was logged for (a ContextVar the edge middleware sets).

Configured once, by the `threadr` command (cli.py), never on import: tests and tools that build
an app keep whatever logging they set up."""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

import msgspec

from threadr.config import Settings

# The id of the request being handled (web/middleware/edge.py sets and resets it around each
# request): every line logged meanwhile carries it, whatever logger wrote it.
REQUEST_ID: ContextVar[str | None] = ContextVar("threadr_request_id", default=None)
NO_REQUEST = "-"  # the request_id of a line logged outside any request (start-up, timers)

ACCESS_LOGGER = "threadr.access"  # the line per request (web/middleware/telemetry.py)
# What the line per request adds to a record (`extra=`); JSON lines carry them as fields.
ACCESS_FIELDS = ("route", "method", "status", "duration_ms", "identity")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

_encode = msgspec.json.Encoder().encode


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request's id (or "-" outside a request). On the
    handler, not a logger: a handler's filters see the records of every logger below it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or NO_REQUEST
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ms), level, logger, message, request_id, the fields of
    the line per request when it is one, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get() or NO_REQUEST,
        }
        for name in ACCESS_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _encode(line).decode()


def _utc(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def configure_logging(
    settings: Settings, stream: TextIO | None = None, *, force: bool = False
) -> logging.Handler | None:
    """Send every log record to `stream` (stderr) in LOG_FORMAT, at DEBUG when DEBUG=true and
    INFO otherwise. Like logging.basicConfig, nothing is done when the root logger has handlers
    already (a test runner's), unless `force`, which replaces them. Returns the handler."""
    root = logging.getLogger()
    if root.handlers and not force:
        return None
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    # Neither format shows where a line was logged from, nor its thread or process: not
    # looking them up saves every record a walk up the stack and a few calls (the logging
    # HOWTO's "Optimization"; a quarter of the calls the line per request made).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return handler
