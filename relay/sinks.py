"""The one interface every chat platform implements: take an outbox payload, send it, say how it went.

A payload is the dict the poller stored (uuid, title, level, source, message, create_at, channel).
A sink renders it for its platform, sends it, and reads the platform's answer: "sent" only when
the platform said yes; a limit answer carries how long to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    retry_after: float | None = None  # seconds the destination asked us to wait
    message_id: str | None = None  # the platform's id of the sent message, where it gives one


class Sink(Protocol):
    def send(self, payload: dict[str, Any], now: float) -> SendResult: ...
