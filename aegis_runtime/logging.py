"""Structured logging: one JSON object a line, carrying the request id and trace id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def current_trace_id() -> str:
    """The 32-hex-digit trace id of the active span, or "" outside a trace."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if request_id := request_id_var.get():
            entry["request_id"] = request_id
        if trace_id := current_trace_id():
            entry["trace_id"] = trace_id
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class Throttled:
    """Logs each message at most once per `interval_s`, with the count of those it held back.

    For lines that come once per failed call: past capacity every call fails the same way, and
    a line each cost the overloaded process CPU that the calls needed (28% of the router's
    samples at 300 Score/s offered to a saturated mesh).
    """

    def __init__(
        self, logger: logging.Logger, interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        # message -> (when it may be logged again, how many were held back since)
        self._held: dict[str, tuple[float, int]] = {}

    def log(self, level: int, msg: str, extra: dict[str, Any]) -> None:
        now = self._clock()
        until, held = self._held.get(msg, (now, 0))
        if now < until:
            self._held[msg] = (until, held + 1)
            return
        self._held[msg] = (now + self._interval_s, 0)
        self._logger.log(level, msg, extra={**extra, "held_back": held})


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route the root logger to stderr in the chosen format; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
