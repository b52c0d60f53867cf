"""Structured logs: JSON lines (or text) that carry the request id, partner id and method of the call in hand.

The signing interceptor opens a `log_context` around each call; a filter on the root handler copies the
context variables onto every record, so any module's `log.info(...)` inside a call names the call's ids
without passing them around.

    {"ts": "2025-01-01T10:00:00.123Z", "level": "INFO", "logger": "network.grpc_service",
     "message": "...", "request_id": "3f2c...", "partner_id": "brewhouse", "method": "/coalition.v1.NetworkService/Earn"}
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

LOG_FORMATS = ("text", "json")
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("coalition_log_request_id", default="")
PARTNER_ID: contextvars.ContextVar[str] = contextvars.ContextVar("coalition_log_partner_id", default="")
METHOD: contextvars.ContextVar[str] = contextvars.ContextVar("coalition_log_method", default="")
_FIELDS = (("request_id", REQUEST_ID), ("partner_id", PARTNER_ID), ("method", METHOD))
_CONTEXT_NAMES = frozenset(name for name, _ in _FIELDS)
# LogRecord attributes that are not "extra" fields given by the caller.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


@contextmanager
def log_context(*, request_id: str | None = None, partner_id: str | None = None,
                method: str | None = None) -> Iterator[None]:
    """Set the given ids for every log line written inside the block (in this thread or task)."""
    tokens = [(var, var.set(value)) for value, var in ((request_id, REQUEST_ID), (partner_id, PARTNER_ID),
                                                       (method, METHOD)) if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_partner(partner_id: str) -> None:
    """Name the partner once it is known (after authentication); reset by the enclosing log_context."""
    PARTNER_ID.set(partner_id)


def set_request_id(request_id: str) -> None:
    REQUEST_ID.set(request_id)


class ContextFilter(logging.Filter):
    """Copies request_id, partner_id and method onto every record (empty strings outside a call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _FIELDS:
            if not getattr(record, name, ""):
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ms), level, logger, message, the call's ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, _ in _FIELDS:
            value = getattr(record, name, "")
            if value:
                line[name] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _CONTEXT_NAMES and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{name}={getattr(record, name)}" for name, _ in _FIELDS[:2] if getattr(record, name, ""))
        if not ids:
            return text
        head, sep, tail = text.partition("\n")
        return f"{head} [{ids}]{sep}{tail}"


def configure(level: str = "INFO", log_format: str = "text", stream=None) -> logging.Handler:
    """Replace the root logger's handlers with one that writes `log_format` lines to stderr (or `stream`)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
