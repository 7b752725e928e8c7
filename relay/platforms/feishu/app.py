"""The Feishu app bot's outbound side: tenant_access_token, IM messages, replies, the card sink.

A self-built Feishu app posts as its bot through the IM API with a `tenant_access_token`
(valid two hours). The token is cached and refreshed ten minutes before it expires (as Feishu's
SDK does), under a lock, so threads that all need a token at once cause one refresh. A token
Feishu calls invalid is dropped and fetched again once. Cards sent this way return a message_id:
relay stores it, and a reply in the card's thread finds its issue by it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from zoneinfo import ZoneInfo

import requests

from relay import http
from relay.clock import Clock
from relay.errors import ConfigError
from relay.i18n import Text
from relay.payloads import Card, FollowUp, Reminder, StatusChange
from relay.platforms.base import CachedToken, SendResult, fit
from relay.platforms.feishu.buttons import with_buttons
from relay.platforms.feishu.card import CardTemplate
from relay.platforms.feishu.card_update import updatable, with_mentions, with_status
from relay.platforms.feishu.inert import text_message
from relay.platforms.feishu.webhook import FEISHU_LIMITS, card_texts, judge
from relay.platforms.status_texts import status_line
from relay.platforms.mentions import NOBODY, Mentions

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
REFRESH_MARGIN_SECONDS = 600  # refresh when less than this is left (Feishu's SDK: 10 min)
INVALID_TOKEN_CODES = {99991661, 99991663, 99991668}  # missing / invalid / expired token
RATE_LIMIT_CODE = 99991400
CARD_UPDATE_TOO_FREQUENT = 230020  # more than 5 updates a second of one message
# Feishu takes a card's request body up to 30 KB; a card is cut to this many bytes of its
# `content` (as it lies in the body), leaving room for the status line a PATCH adds
MAX_CARD_BYTES = 28_000


class FeishuAppError(Exception):
    """Feishu did not hand out a token (wrong app id/secret, or unreachable)."""


class FeishuApp:
    def __init__(self, base_url: str, app_id: str, app_secret: str, clock: Clock | None = None,
                 session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id, self._secret = app_id, app_secret
        self.clock = clock or Clock()
        self.session = session or http.http_session()
        self.timeout = timeout
        self._token = CachedToken(self._refresh, self.clock, REFRESH_MARGIN_SECONDS)
        self._bot_open_id: str | None = None

    # -- the token ---------------------------------------------------------------------------
    def token(self) -> str:
        return self._token.get()

    def _refresh(self) -> tuple[str, float]:
        try:
            resp = http.call(self.session, "POST", self.base_url + TOKEN_PATH, timeout=self.timeout,
                             json={"app_id": self.app_id, "app_secret": self._secret})
            body = resp.json()
        except http.CallFailed as exc:
            raise FeishuAppError(f"tenant_access_token: could not reach Feishu: {exc}") from None
        except ValueError:
            raise FeishuAppError(f"tenant_access_token: HTTP {resp.status_code}, not JSON"
                                 ) from None
        if not isinstance(body, dict) or body.get("code") != 0 or not body.get(
                "tenant_access_token"):
            code = body.get("code") if isinstance(body, dict) else "?"
            msg = body.get("msg") if isinstance(body, dict) else ""
            raise FeishuAppError(f"tenant_access_token: Feishu code {code}: {msg} (check "
                                 "RELAY_FEISHU_APP_ID / RELAY_FEISHU_APP_SECRET)")
        return str(body["tenant_access_token"]), float(body.get("expire") or 7200)

    # -- calls -------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None) -> tuple[SendResult, dict[str, Any]]:
        """One IM API call: (how it went, the answer's JSON body)."""
        for attempt in (1, 2):
            try:
                token = self.token()
            except FeishuAppError as exc:
                return SendResult(False, str(exc)), {}
            try:
                resp = http.call(
                    self.session, method, self.base_url + path, params=params,
                    timeout=self.timeout,
                    data=None if body is None else json.dumps(body, ensure_ascii=False).encode(),
                    headers={"Authorization": f"Bearer {token}",
                             "Content-Type": "application/json; charset=utf-8"})
            except http.CallFailed as exc:
                return SendResult(False, f"could not reach Feishu: {exc}"), {}
            try:
                answer = resp.json()
            except ValueError:
                answer = None
            answer = answer if isinstance(answer, dict) else {}
            code = answer.get("code")
            if code in INVALID_TOKEN_CODES and attempt == 1:
                self._token.forget(token)
                continue
            return self._judge(resp, answer), answer
        return SendResult(False, "Feishu refused a fresh tenant_access_token"), {}

    def _judge(self, resp: requests.Response, answer: dict[str, Any]) -> SendResult:
        now = self.clock.now()
        if answer.get("code") == RATE_LIMIT_CODE or resp.status_code == 429:
            reset = resp.headers.get("x-ogw-ratelimit-reset", "")
            wait = float(reset) if reset.isdigit() else 10.0
            return SendResult(False, f"Feishu code {RATE_LIMIT_CODE}: too many requests", wait)
        if answer.get("code") == CARD_UPDATE_TOO_FREQUENT:  # a second later it goes through
            return SendResult(False, f"Feishu code {CARD_UPDATE_TOO_FREQUENT}: the card was "
                              "updated more than 5 times a second", 1.0)
        result = judge(resp, now)
        if not result.ok:
            return result
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        return SendResult(True, message_id=str(data.get("message_id") or "") or None)

    def send(self, chat_id: str, msg_type: str, content: dict[str, Any],
             idempotency_key: str | None = None) -> SendResult:
        """A new message in a chat."""
        body = {"receive_id": chat_id, "msg_type": msg_type,
                "content": json.dumps(content, ensure_ascii=False)}
        if idempotency_key:
            body["uuid"] = idempotency_key[:50]
        return self.call("POST", "/open-apis/im/v1/messages", body,
                         params={"receive_id_type": "chat_id"})[0]

    def reply_text(self, message_id: str, text: str, idempotency_key: str | None = None
                   ) -> SendResult:
        """A text reply to a message: in its thread when it is in one."""
        body = {"msg_type": "text", "content": json.dumps({"text": text}, ensure_ascii=False)}
        if idempotency_key:
            body["uuid"] = idempotency_key[:50]
        return self.call("POST", f"/open-apis/im/v1/messages/{message_id}/reply", body)[0]

    def update_card(self, message_id: str, card: dict[str, Any]) -> tuple[SendResult, bool]:
        """PATCH a card the bot sent: (how it went, whether Feishu refused it for good, e.g. a
        message over 14 days old or one sent without "update_multi": true). Any business code
        that is not a limit (the API's, or the card's 5 updates a second) counts as a refusal;
        limits, network errors and 5xx are worth a retry."""
        result, answer = self.call("PATCH", f"/open-apis/im/v1/messages/{message_id}",
                                   {"content": json.dumps(card, ensure_ascii=False)})
        code = answer.get("code")
        refused = (not result.ok and result.retry_after is None and isinstance(code, int)
                   and code >= 10_000)
        return result, refused

    def bot_open_id(self) -> str | None:
        """The bot's own open_id (to tell an @-mention of the bot from one of a person)."""
        if self._bot_open_id is None:
            result, answer = self.call("GET", "/open-apis/bot/v3/info")
            bot = answer.get("bot") if isinstance(answer.get("bot"), dict) else {}
            if result.ok and bot.get("open_id"):
                self._bot_open_id = str(bot["open_id"])
        return self._bot_open_id


def content_bytes(card: dict[str, Any]) -> int:
    """The size of a card in an IM API request: its JSON as a string, JSON-escaped in the body."""
    return len(json.dumps(json.dumps(card, ensure_ascii=False), ensure_ascii=False).encode())


class AppChatSink:
    """A destination that is a group chat of the app bot: the alert card through the IM API."""

    limits = FEISHU_LIMITS  # Feishu: 5 messages a second per group; 100/min like a custom bot

    def __init__(self, app: FeishuApp, chat_id: str, tz: ZoneInfo, card: CardTemplate,
                 console_url: str, text: Text, mentions: Mentions = NOBODY) -> None:
        self.app, self.chat_id, self.tz, self.card = app, chat_id, tz, card
        self.console_url, self.text, self.mentions = console_url, text, mentions

    def render(self, payload: Card) -> dict[str, Any]:
        """The alert card, updatable later (its issue's state changes are PATCHed into it), the
        message cut so the card stays within Feishu's 30 KB."""
        people = self.mentions.people(payload)

        def card(message: str) -> dict[str, Any]:
            rendered = self.card.render(*card_texts(payload, self.tz, self.console_url,
                                                    self.text, message))
            rendered = with_buttons(rendered, payload.uuid, self.text)
            return updatable(with_mentions(rendered, people, self.text))

        message = fit(lambda kept: content_bytes(card(kept)), payload.message, MAX_CARD_BYTES,
                      self.text)
        return card(message)

    def send(self, payload: Card, now: float) -> SendResult:
        if isinstance(payload, FollowUp):
            return self.follow_up(payload)
        # the same issue to the same chat is one message, even when a crash makes us send twice
        key = f"{payload.uuid}\n{self.chat_id}"
        if isinstance(payload, Reminder):  # a reminder is a message of its own
            key += f"\nreminder {payload.reminder}"
        key = hashlib.sha1(key.encode()).hexdigest()
        return self.app.send(self.chat_id, "interactive", self.render(payload),
                             idempotency_key=key)

    def follow_up(self, payload: FollowUp) -> SendResult:
        """A state change: the card PATCHed with it (keeping its content), and one line in the
        card's thread when the change is announced. A PATCH Feishu refuses (too old, not
        updatable) falls back to the thread line. The result carries no message_id: a reply to
        the line belongs to the card's thread, whose root finds the issue."""
        line = status_line(payload, self.text, text_message)
        message_id = payload.message_id
        change = isinstance(payload, StatusChange)
        status_type, changed_at = (payload.status_type, payload.changed_at) if change else (
            None, None)
        key = hashlib.sha1(f"{payload.uuid}\n{self.chat_id}\n{status_type}\n{changed_at}"
                           f"\n{payload.kind}".encode()).hexdigest()
        if not message_id:
            result = self.app.send(self.chat_id, "text", {"text": line}, idempotency_key=key)
            return SendResult(result.ok, result.error, result.retry_after)
        announce = payload.announce if change else True
        if change:
            card = with_status(self.render(payload), payload,
                               self.mentions.managers(payload), self.tz, self.text)
            result, refused = self.app.update_card(str(message_id), card)
            if not result.ok and not refused:
                return result  # worth a retry (rate limit, 5xx, network)
            announce = announce or refused
        if not announce:
            return SendResult(True)
        result = self.app.reply_text(str(message_id), line, idempotency_key=key)
        return SendResult(result.ok, result.error, result.retry_after)


def app_from_settings(settings: Any, clock: Clock, session: requests.Session) -> FeishuApp | None:
    """The app client when the app bot is configured (chats, an event token or the long
    connection); else None."""
    s = settings
    chats = s.chats("feishu_app")
    long = s.feishu_events == "long"
    if not chats and s.feishu_verification_token is None and not long:
        return None
    need = ("feishu_app destinations (RELAY_FEISHU_APP_CHATS)" if chats else
            "RELAY_FEISHU_EVENTS=long" if long else "RELAY_FEISHU_VERIFICATION_TOKEN")
    if not (s.feishu_app_id or "").strip():
        raise ConfigError(f"RELAY_FEISHU_APP_ID is not set ({need} needs the Feishu app bot)")
    if s.feishu_app_secret is None or not s.feishu_app_secret.get_secret_value().strip():
        raise ConfigError(f"RELAY_FEISHU_APP_SECRET is not set ({need} needs the Feishu app bot)")
    return FeishuApp(s.feishu_open_base_url, s.feishu_app_id.strip(),
                     s.feishu_app_secret.get_secret_value(), clock, session, s.chat_timeout)
