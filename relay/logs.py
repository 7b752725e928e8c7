"""Logging set-up: one line per event, as text or JSON (RELAY_LOG_FORMAT), secrets masked.

A log call may carry the event's channel, issue UUID and destination as fields
(`extra={"channel": ..., "issue": ..., "destination": ...}`); text lines append them as
`key=value`, JSON lines as keys, so a log search can find every line about one issue.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import TextIO

from relay.config.secrets import MASK
FIELDS = ("channel", "issue", "destination")
# What could end, rewrite or reorder a line on a terminal or in a log viewer: C0 and C1 controls,
# DEL, the Unicode line and paragraph separators, and the bidirectional overrides.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """Control characters as visible escapes (`\\n`, `\\u001b`, `\\u2028`), so text from a
    request cannot forge or hide a log line; inside a JSON line the escapes are valid JSON too."""
    return CONTROLS.sub(lambda m: SHORT.get(m[0]) or f"\\u{ord(m[0]):04x}", text)


class Redactor:
    """Replaces each secret value in a text with ***."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`, with secrets masked."""

    def __init__(self, redact: Redactor,
                 fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{k}={getattr(record, k)}" for k in FIELDS
                          if getattr(record, k, None) is not None)
        # a traceback stays on the event's one line (as literal \n), so lines stay events
        return escape_controls(self.redact(f"{text} {fields}" if fields else text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the event's fields, and
    `exception` when there is one. Secrets are masked in every value before encoding."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc)
                 .isoformat(timespec="milliseconds"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: str(getattr(record, k)) for k in FIELDS
                      if getattr(record, k, None) is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # json.dumps escapes C0 controls; escape_controls the rest (U+2028, C1, DEL, bidi)
        return escape_controls(json.dumps({k: self.redact(v) for k, v in entry.items()},
                                          ensure_ascii=False))


def setup_logging(redact: Redactor, level: int = logging.INFO, fmt: str = "text",
                  stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else RedactingFormatter(redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler.scheduler", "apscheduler.executors.default", "waitress",
                  "urllib3", "werkzeug", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
