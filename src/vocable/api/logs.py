"""Structured logs: one JSON object per line in production, readable lines in dev mode."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from vocable.api.middleware import request_id_var

_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line for `record`."""
        body: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for field in _FIELDS[1:]:
            if hasattr(record, field):
                body[field] = getattr(record, field)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, separators=(",", ":"))


class DevFormatter(logging.Formatter):
    """``time level logger [request id] message`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        """The line for `record`."""
        rid = getattr(record, "request_id", None) or request_id_var.get() or "-"
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name} [{rid}] "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(*, json_lines: bool, level: int = logging.INFO) -> None:
    """Send vocable's and uvicorn's logs to stderr in one format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else DevFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access log has the request id
