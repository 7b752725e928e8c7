"""What every chat platform implements and declares: a sink (take an outbox payload, send it,
say how it went), the kinds of destination it offers and its reply routes (see registry.py).

A payload is a model of relay/payloads.py (an issue's card, a reminder, a status change, a storm
digest...), told apart by class: `isinstance(payload, FollowUp)` is a change to tell after a card.
A sink renders it for its platform, sends it, and reads the platform's answer: "sent" only when
the platform said yes; a limit answer carries how long to wait.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint

from relay import http
from relay.config.destinations import Destination
from relay.i18n import Text
from relay.payloads import Card

if TYPE_CHECKING:
    from relay.connections import Link
    from relay.runtime import Runtime


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    retry_after: float | None = None  # seconds the destination asked us to wait
    message_id: str | None = None  # the platform's id of the sent message, where it gives one


class Sink(Protocol):
    # the platform's documented send limits per destination: (count, seconds) pairs, as
    # relay.ratelimit.RateLimiter takes them; relay keeps under them
    limits: ClassVar[list[tuple[int, float]]]

    def send(self, payload: Card, now: float) -> SendResult: ...


@dataclass(frozen=True)
class Kind:
    """How the sink of a destination type (a `type` in RELAY_DESTINATIONS, declared with its URL
    shape in relay/config/destinations.py) is built."""

    name: str
    sink: Callable[[Runtime, Destination, requests.Session], Sink]


@dataclass(frozen=True)
class ReplyRoute:
    """An HTTP route through which a platform's chat writes back."""

    path: str
    blueprint: Callable[[Runtime], Blueprint]
    counted: bool = True  # requests it refuses unread count in relay_reply_requests_total


Inert = Callable[[str], str]  # text from outside → the same text, shown as is, never markup


def as_is(text: str) -> str:
    """For text relay wrote itself (the catalogues, its own mentions): nothing to defuse."""
    return text


ZERO_WIDTH = "\u200b"  # ZERO WIDTH SPACE: shown as nothing, so the text reads as it came


def zero_width_after(pattern: str) -> Inert:
    """An `Inert` that puts a zero-width space after each match of `pattern` (a regex of the
    characters that open a platform's markup, e.g. `<` of `<at …>`): the text reads the same,
    but no mention or tag starts there any more. For dialects with no documented escape. Text
    made inert twice is the same as once."""
    compiled = re.compile(f"(?:{pattern})(?!{ZERO_WIDTH})")
    return lambda text: compiled.sub(lambda m: m.group(0) + ZERO_WIDTH, text)


@dataclass(frozen=True)
class Platform:
    name: str
    kinds: tuple[Kind, ...] = ()
    replies: tuple[ReplyRoute, ...] = ()
    # run once as the runtime starts, before the sinks are built: checks the platform's own
    # settings and makes what its sinks share (the Feishu app client, the card template)
    setup: Callable[[Runtime, requests.Session], None] | None = None
    # run by `relay check` after setup: settings that work, but not as one would expect
    warnings: Callable[[Runtime], list[str]] | None = None
    # run once in the serving process (relay run / serve): opens the connections the platform
    # keeps to its chat service (DingTalk's Stream)
    listen: Callable[[Runtime], None] | None = None
    # the long connections the platform keeps, not started (relay/connections/): `relay check`
    # opens each once, layer by layer
    links: Callable[[Runtime], list[Link]] | None = None
    # what makes text from outside (Guance's issues and comments, chat names) inert in the
    # platform's plain text messages (thread lines, answers), for code outside its folder
    # (relay/pipeline/notify_replies.py); its sinks use it and their own markup dialects'
    # functions for every such text they lay out
    inert: Inert = as_is


class CachedToken:
    """An app's access token (Feishu's tenant_access_token, DingTalk's accessToken): fetched
    when there is none or less than `margin` seconds of it are left, under a lock, so threads
    that all need one at once cause one fetch; `forget` drops one the platform refused."""

    def __init__(self, fetch: Callable[[], tuple[str, float]], clock: Any,
                 margin: float) -> None:
        self._fetch, self._clock, self._margin = fetch, clock, margin  # fetch: (token, lifetime)
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._clock.now() >= self._expires_at - self._margin:
                self._token, lifetime = self._fetch()
                self._expires_at = self._clock.now() + lifetime
            return self._token

    def forget(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None


def judge_errcode(platform: str, resp: requests.Response,
                  waits: dict[int, float], hints: dict[int, str] | None = None) -> SendResult:
    """The answer of a DingTalk or WeCom robot: sent only for HTTP 2xx with `errcode` 0 (both
    report failures with HTTP 200 and a non-zero errcode). `waits` maps the platform's "too fast"
    codes to the seconds it wants us to stay away; `hints` adds what to check for other codes."""
    if not 200 <= resp.status_code < 300:
        return SendResult(False, f"{platform} HTTP {resp.status_code} {resp.text[:200]}".strip(),
                          60.0 if resp.status_code == 429 else None)
    try:
        body = resp.json()
        code = int(body["errcode"])
    except (ValueError, TypeError, KeyError):
        return SendResult(False, f"{platform} answered without an errcode: {resp.text[:200]}")
    if code == 0:
        return SendResult(True)
    hint = (hints or {}).get(code, "")
    error = f"{platform} errcode {code}: {body.get('errmsg', '')}{hint}"[:300]
    return SendResult(False, error, waits.get(code))


def fit(size: Callable[[str], int], message: str, max_bytes: int, text: Text) -> str:
    """`message`, or its longest prefix with the marker of `cut`, so that `size` (what the
    platform counts: a request body, a markdown text's UTF-8) stays within `max_bytes`."""
    if size(message) <= max_bytes:
        return message
    lo, hi = 0, len(message)
    best = cut(message, 0, text)
    while lo < hi:  # binary search: the size grows with the kept prefix
        mid = (lo + hi + 1) // 2
        candidate = cut(message, mid, text)
        if size(candidate) <= max_bytes:
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best


def fit_utf8(render: Callable[[str], str], message: str, max_bytes: int, text: Text) -> str:
    """`render(message)`, the message cut (with a visible marker) so the whole stays within
    `max_bytes` of UTF-8."""
    return render(fit(lambda kept: len(render(kept).encode("utf-8")), message, max_bytes, text))


def cut(message: str, keep: int, text: Text) -> str:
    """The first `keep` characters and a visible marker saying how much was left out."""
    return f"{message[:keep]}\n{text('card.truncated', count=len(message) - keep)}"


# The most of an issue's text any sink sends (a DingTalk message's 20,000 bytes, a custom bot's
# 20 KB body; WeCom and the app card send less): the poller stores no more, so an 8 MB issue
# costs no 8 MB row. Titles are one line.
MAX_STORED_MESSAGE = 20_000
MAX_STORED_TITLE = 1_000


def bounded(value: str, limit: int, text: Text) -> str:
    """`value`, or its first `limit` characters with the truncation marker of `cut`."""
    return value if len(value) <= limit else cut(value, limit, text)


class RobotSink:
    """A group robot that takes one JSON message per POST and answers HTTP 200 with `errcode`
    (DingTalk, WeCom). A platform names itself, renders its message and lists its codes."""

    limits = [(20, 61.0)]  # 20 a minute per robot (a second of margin: a breach costs 10 min)
    platform = ""
    waits: dict[int, float] = {}  # errcode → seconds to stay away
    hints: dict[int, str] = {}  # errcode → what to check

    def __init__(self, url: str, tz: ZoneInfo, console_url: str, text: Text,
                 session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.url, self.tz, self.console_url, self.timeout = url, tz, console_url, timeout
        self.text = text
        self.session = session or http.http_session()

    def url_for(self, now: float) -> str:
        return self.url

    def message(self, payload: Card) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, payload: Card, now: float) -> SendResult:
        try:
            resp = http.call(self.session, "POST", self.url_for(now), timeout=self.timeout,
                             json=self.message(payload))
        except http.CallFailed as exc:
            return SendResult(False, f"could not reach {self.platform}: {exc}")
        return judge_errcode(self.platform, resp, self.waits, self.hints)
