"""Feishu sinks: turn an outbox payload into a Feishu request and judge Feishu's answer.

Feishu answers business errors with HTTP 200 and a non-zero `code`, so "sent" means HTTP 2xx *and*
`code == 0` where the body has a code. Error texts never contain the webhook URL (its last path
segment is the secret).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

TOO_FREQUENT_CODES = {11232, 99991400}  # system-pressure frequency limit; IM API rate limit


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    retry_after: float | None = None  # seconds the destination asked us to wait


def format_time(unix_seconds: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(unix_seconds, tz).strftime("%Y-%m-%d %H:%M:%S")


def flow_params(payload: dict[str, Any], tz: ZoneInfo) -> dict[str, str]:
    """The flat params Feishu flows built on Guance's recipe already use."""
    return {
        "issue_uuid": payload["uuid"],
        "title": payload["title"],
        "level": payload["level"],
        "source": payload["source"],
        "message": payload["message"],
        "createAt": format_time(payload["create_at"], tz),
    }


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds, from either delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


def judge(resp: requests.Response, now: float) -> SendResult:
    """Did Feishu accept the message? Reads the status, then the body's `code` if there is one."""
    if resp.status_code == 429:
        return SendResult(False, "HTTP 429 too many requests",
                          parse_retry_after(resp.headers.get("Retry-After"), now) or 60.0)
    if not 200 <= resp.status_code < 300:
        return SendResult(False, f"HTTP {resp.status_code} {resp.text[:200]}".strip(),
                          parse_retry_after(resp.headers.get("Retry-After"), now))
    try:
        body = resp.json()
    except ValueError:
        return SendResult(True)  # flows may answer with an empty or non-JSON body
    code = body.get("code", body.get("StatusCode", 0)) if isinstance(body, dict) else 0
    if code in (0, None, "0"):
        return SendResult(True)
    msg = str(body.get("msg") or body.get("StatusMessage") or "")
    retry_after = 10.0 if code in TOO_FREQUENT_CODES else None
    return SendResult(False, f"Feishu code {code}: {msg}"[:300], retry_after)


class FlowWebhookSink:
    """A Feishu flow (机器人助手) webhook trigger: POST the flat JSON params."""

    def __init__(self, url: str, tz: ZoneInfo, session: requests.Session | None = None,
                 timeout: float = 10.0) -> None:
        self.url, self.tz, self.timeout = url, tz, timeout
        self.session = session or requests.Session()

    def send(self, payload: dict[str, Any], now: float) -> SendResult:
        try:
            resp = self.session.post(self.url, json=flow_params(payload, self.tz),
                                     timeout=self.timeout)
        except requests.RequestException as exc:
            return SendResult(False, f"could not reach Feishu: {type(exc).__name__}")
        return judge(resp, now)
