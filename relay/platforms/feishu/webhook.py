"""Feishu sinks: turn an outbox payload into a Feishu request and judge Feishu's answer.

Two kinds of destination, told apart by the URL: a flow webhook gets flat params, a custom bot
(`/open-apis/bot/v2/hook/<token>`) gets an interactive card rendered from a JSON template.
Feishu answers business errors with HTTP 200 and a non-zero `code`, so "sent" means HTTP 2xx *and*
`code == 0` where the body has a code. Error texts never contain the webhook URL (its last path
segment is the secret).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
from zoneinfo import ZoneInfo

import requests

from relay import http
from relay.i18n import Text
from relay.platforms.base import SendResult, fit
from relay.platforms.feishu.buttons import with_links
from relay.platforms.feishu.card import CardTemplate
from relay.platforms.feishu.card_update import with_mentions
from relay.platforms.feishu.inert import lark_md, text_message
from relay.payloads import Card, FollowUp
from relay.platforms.status_texts import OPEN, status_line, status_name, who
from relay.platforms.mentions import NOBODY, Mentions, Person
from relay.platforms.render import card_values, format_time
from relay.replies.links import LinkSigner

# Feishu documents 5 requests/s and 100/min per custom bot; flows get the same care. The windows
# have a margin (as the Guance one): a card's time on the way varies, so Feishu can count a 6th
# card inside its second when relay waited exactly one.
FEISHU_LIMITS = [(5, 1.1), (100, 61.0)]
TOO_FREQUENT_CODES = {11232, 99991400}  # system-pressure frequency limit; IM API rate limit
JSON = {"Content-Type": "application/json; charset=utf-8"}
MAX_BOT_BODY = 20_000  # Feishu takes ≤ 20 KB per custom-bot request; a margin for "KB" = 1000


def flow_params(payload: Card, tz: ZoneInfo, text: Text) -> dict[str, str]:
    """The flat params Feishu flows built on Guance's recipe already use (names fixed; the level
    as Guance shows it in RELAY_LANGUAGE), plus `event` ("new" for a new issue, "status" for a
    change) and `status`, so a flow can branch on the event; a change also names who made it
    and carries the follow-up line. A flow may lay its params out in a text or a card: every
    text from outside is made inert as for a text message (invisible in both)."""
    follow_up = isinstance(payload, FollowUp)
    inert = text_message
    params = {
        "issue_uuid": payload.uuid,
        "title": inert(payload.title),
        "level": inert(text.level(payload.level)),
        "source": inert(payload.source),
        "message": inert(payload.message),
        "createAt": format_time(payload.create_at, tz),
        "event": "status" if follow_up else "new",
        "status": (follow_up and payload.status) or status_name(OPEN, text),
    }
    if follow_up:
        params.update(changed_by=inert(who(payload, text)),
                      line=status_line(payload, text, inert))
    return params


def card_texts(payload: Card, tz: ZoneInfo, console_url: str, text: Text,
               message: str) -> tuple[dict[str, str], dict[str, str]]:
    """A card template's values: as they are (for plain_text elements), and inert for lark_md
    and markdown ones."""
    return (card_values(payload, tz, console_url, text, message),
            card_values(payload, tz, console_url, text, message, lark_md))


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

    limits = FEISHU_LIMITS

    def __init__(self, url: str, tz: ZoneInfo, text: Text,
                 session: requests.Session | None = None, timeout: float = 10.0,
                 links: LinkSigner | None = None) -> None:
        self.url, self.tz, self.text, self.timeout, self.links = url, tz, text, timeout, links
        self.session = session or http.http_session()

    def send(self, payload: Card, now: float) -> SendResult:
        params = flow_params(payload, self.tz, self.text)
        if self.links is not None and not isinstance(payload, FollowUp):
            # signed action links, as params `claim_url`, `resolve_url`
            params.update({f"{action}_url": url for action, _, url
                           in self.links.links(payload, "Feishu", self.text)})
        try:
            resp = http.call(self.session, "POST", self.url, timeout=self.timeout, headers=JSON,
                             data=json.dumps(params, allow_nan=False).encode())
        except http.CallFailed as exc:
            return SendResult(False, f"could not reach Feishu: {exc}")
        return judge(resp, now)


def bot_sign(timestamp: int, secret: str) -> str:
    """Feishu's custom-bot signature: HMAC-SHA256 keyed with "timestamp\\nsecret", empty message."""
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


class BotWebhookSink:
    """A Feishu custom bot (自定义机器人) webhook: POST an interactive card, signed when the
    destination has a secret (Feishu's "signature" security setting)."""

    limits = FEISHU_LIMITS

    def __init__(self, url: str, tz: ZoneInfo, card: CardTemplate, console_url: str, text: Text,
                 secret: str | None = None, session: requests.Session | None = None,
                 timeout: float = 10.0, mentions: Mentions = NOBODY,
                 links: LinkSigner | None = None) -> None:
        self.url, self.tz, self.card, self.console_url = url, tz, card, console_url
        self.text = text
        self.secret, self.timeout, self.mentions, self.links = secret, timeout, mentions, links
        self.session = session or http.http_session()

    def body(self, payload: Card, now: float) -> bytes:
        """The request body, the message cut so the whole stays within Feishu's size limit.
        A state change is a short text message (a custom bot cannot update its card)."""
        extra = {}
        if self.secret:
            extra = {"timestamp": str(int(now)), "sign": bot_sign(int(now), self.secret)}
        if isinstance(payload, FollowUp):
            return json.dumps({"msg_type": "text",
                               "content": {"text": status_line(payload, self.text,
                                                               text_message)},
                               **extra}, ensure_ascii=False).encode("utf-8")
        message = payload.message
        # who to @-mention and the signed links do not change with the cut: found once
        people = self.mentions.people(payload)
        links = self.links.links(payload, "Feishu", self.text) if self.links is not None else None

        def encode(kept: str) -> bytes:
            return self._encode(payload, kept, extra, people, links)

        return encode(fit(lambda kept: len(encode(kept)), message, MAX_BOT_BODY, self.text))

    def _encode(self, payload: Card, message: str, extra: dict[str, str],
                people: list[Person], links: list[tuple[str, str, str]] | None) -> bytes:
        card = with_mentions(self.card.render(*card_texts(payload, self.tz, self.console_url,
                                                          self.text, message)),
                             people, self.text)
        if links is not None:  # a custom bot cannot call back: signed link buttons
            card = with_links(card, links)
        body = {"msg_type": "interactive", "card": card, **extra}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, payload: Card, now: float) -> SendResult:
        try:
            resp = http.call(self.session, "POST", self.url, timeout=self.timeout, headers=JSON,
                             data=self.body(payload, now))
        except http.CallFailed as exc:
            return SendResult(False, f"could not reach Feishu: {exc}")
        return judge(resp, now)
