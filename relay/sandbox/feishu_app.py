"""A local stand-in for the Feishu open platform, for the app bot: tokens, IM messages, events.

FakeFeishuApp hands out `tenant_access_token`s that expire on its clock, refuses expired ones
(code 99991663, as Feishu does), records every message sent to a chat or as a reply (with the
`uuid` idempotency key honoured), answers the bot-info call, and can be told to answer with the
rate-limit code 99991400 or a card's update-frequency code 230020. It refuses a request body over
Feishu's 30 KB (code 230025), as Feishu does for cards. `push_event` plays Feishu pushing an
event to relay: encrypted with the app's Encrypt Key and signed with the X-Lark-* headers, as
Feishu's HTTP callback does; `listen` serves the long connection instead (feishu_long.py).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import threading
import time
import uuid as uuidlib
from collections import deque
from typing import Any

import requests
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import Flask, jsonify, request

from relay.clock import Clock
from relay.sandbox.feishu_long import ENDPOINT_PATH, Codec, FakeFeishuLong


class FakeFeishuApp:
    MAX_UPDATE_AGE = 14 * 86_400  # Feishu updates only messages sent within 14 days
    MAX_BODY_BYTES = 30 * 1024  # "卡片及富文本消息请求体最大不能超过30KB"

    def __init__(self, app_id: str = "cli_sandbox0001", app_secret: str = "sandbox-app-secret",
                 clock: Clock | None = None, token_expire: int = 7200,
                 bot_open_id: str = "ou_relaybot000000000000000000000") -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.clock = clock or Clock()
        self.token_expire = token_expire
        self.bot_open_id = bot_open_id
        self.token_requests = 0
        self.token_delay = 0.0  # seconds the token endpoint takes (to race threads against it)
        self.messages: list[dict[str, Any]] = []  # every message the bot sent, in order
        self.updates: list[tuple[str, dict[str, Any]]] = []  # (message_id, new card) per PATCH
        self.faults: deque[str] = deque()  # "ratelimit", "card_frequency", "500"
        self.largest_body = 0  # bytes of the largest send or PATCH body taken
        self.chats: set[str] | None = None  # the chats the bot is in; None: any chat
        self._tokens: dict[str, float] = {}  # token → expiry (clock time)
        self._by_key: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.long: FakeFeishuLong | None = None  # the long connection, once `listen` opened it
        self.app = self._make_app()

    def listen(self, codec: Codec | None = None, **config: int) -> FakeFeishuLong:
        """Serve the long connection too (relay/sandbox/feishu_long.py)."""
        self.long = FakeFeishuLong(self.app_id, self.app_secret, codec, **config)
        return self.long

    # -- for tests -------------------------------------------------------------------------------
    def in_chat(self, chat_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["chat_id"] == chat_id]

    def replies_to(self, message_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("reply_to") == message_id]

    def texts_replying_to(self, message_id: str) -> list[str]:
        return [m["content"].get("text", "") for m in self.replies_to(message_id)]

    # -- the API ---------------------------------------------------------------------------------
    def _authorised(self) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            expiry = self._tokens.get(token)
        return scheme == "Bearer" and expiry is not None and self.clock.now() < expiry

    def _refusal(self):
        """What Feishu answers before it looks at a send or a PATCH: a bad token, or an injected
        fault (rate limit, 500); None when the call goes on."""
        if not self._authorised():
            return jsonify({"code": 99991663, "msg": "Invalid access token for authorization"}), 400
        fault = self.faults.popleft() if self.faults else None
        if fault == "ratelimit":
            return jsonify({"code": 99991400, "msg": "request trigger frequency limit"}), 429, {
                "x-ogw-ratelimit-limit": "5", "x-ogw-ratelimit-reset": "2"}
        if fault == "card_frequency":  # more than 5 updates a second of one message
            return jsonify({"code": 230020, "msg": "This operation triggers the frequency "
                            "limit."}), 400
        if fault == "500":
            return jsonify({"code": 500, "msg": "internal error"}), 500
        if len(request.get_data()) > self.MAX_BODY_BYTES:
            return jsonify({"code": 230025, "msg": "The length of the message content reaches "
                            "its limit."}), 400
        with self._lock:
            self.largest_body = max(self.largest_body, len(request.get_data()))
        return None

    def _record(self, chat_id: str, body: dict[str, Any], reply_to: str | None):
        refused = self._refusal()
        if refused is not None:
            return refused
        content = body.get("content")
        if not isinstance(content, str) or body.get("msg_type") not in ("text", "interactive",
                                                                         "post"):
            return jsonify({"code": 230001, "msg": "invalid message content"}), 400
        try:
            parsed = json.loads(content)  # the IM API wants the content as a JSON *string*
        except ValueError:
            return jsonify({"code": 230001, "msg": "content is not JSON"}), 400
        key = body.get("uuid")
        with self._lock:
            if key and key in self._by_key:  # the same uuid again: the same message, not a new one
                return jsonify({"code": 0, "msg": "success", "data": self._by_key[key]["data"]})
            parent = next((m for m in self.messages if m["message_id"] == reply_to), None)
            message = {"message_id": f"om_{next(self._ids):04d}{uuidlib.uuid4().hex[:20]}",
                       "chat_id": parent["chat_id"] if parent else chat_id,
                       "msg_type": body["msg_type"], "content": parsed, "reply_to": reply_to,
                       "root_id": (parent.get("root_id") or parent["message_id"]) if parent
                       else (reply_to or ""), "sent_at": self.clock.now()}
            message["data"] = {k: message[k] for k in ("message_id", "chat_id", "root_id")}
            self.messages.append(message)
            if key:
                self._by_key[key] = message
        return jsonify({"code": 0, "msg": "success", "data": message["data"]})

    def _update(self, message_id: str, body: dict[str, Any]):
        """PATCH of a card, with Feishu's documented checks: only the bot's own interactive
        messages, sent within 14 days, declared `"update_multi": true` before and after, at
        most 30 KB. Codes as Feishu's: 230031 too old, 230099 "Failed to create card content"
        (the card is not a card), 230020 the frequency limit (an injected fault). Feishu's code
        for a card without update_multi is not in our sources: this fake answers the generic
        230001 "invalid request parameter" (relay takes any business code but a limit as a
        refusal)."""
        refused = self._refusal()
        if refused is not None:
            return refused
        try:
            card = json.loads(body.get("content"))
        except (TypeError, ValueError):
            return jsonify({"code": 230001, "msg": "Your request contains an invalid request "
                            "parameter, ext=content must be the card as a JSON string"}), 400
        if not isinstance(card, dict):
            return jsonify({"code": 230099, "msg": "Failed to create card content"}), 400
        with self._lock:
            message = next((m for m in self.messages if m["message_id"] == message_id), None)
            if message is None or message["msg_type"] != "interactive":
                return jsonify({"code": 230001, "msg": "not a card this bot sent"}), 400
            if self.clock.now() - message["sent_at"] > self.MAX_UPDATE_AGE:
                return jsonify({"code": 230031, "msg": "Message has expired when updating "
                                "message, ext=Message can only be updated within fourteen "
                                "days."}), 400
            before = (message["content"].get("config") or {}).get("update_multi")
            after = (card.get("config") or {}).get("update_multi")
            if before is not True or after is not True:
                return jsonify({"code": 230001, "msg": "Your request contains an invalid request "
                                "parameter, ext=the card is not shared: config.update_multi must "
                                "be true before and after the update"}), 400
            message["content"] = card
            self.updates.append((message_id, card))
        return jsonify({"code": 0, "msg": "success", "data": {}})

    def card(self, message_id: str) -> dict[str, Any]:
        """The card as the chat shows it now (after any update)."""
        return next(m for m in self.messages if m["message_id"] == message_id)["content"]

    def _make_app(self) -> Flask:
        app = Flask("fake-feishu-open")

        @app.post("/open-apis/auth/v3/tenant_access_token/internal")
        def token():
            body = request.get_json(silent=True) or {}
            with self._lock:
                self.token_requests += 1
            if self.token_delay:
                time.sleep(self.token_delay)
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                return jsonify({"code": 10014, "msg": "app secret invalid"})
            value = f"t-{uuidlib.uuid4().hex}"
            with self._lock:
                self._tokens[value] = self.clock.now() + self.token_expire
            return jsonify({"code": 0, "msg": "ok", "tenant_access_token": value,
                            "expire": self.token_expire})

        @app.post(ENDPOINT_PATH)
        def ws_endpoint():
            if self.long is None:
                return jsonify({"code": 404, "msg": "long connection not served"}), 404
            body, status = self.long.endpoint(request.get_json(silent=True) or {})
            return jsonify(body), status

        @app.get("/open-apis/bot/v3/info")
        def bot_info():
            if not self._authorised():
                return jsonify({"code": 99991663, "msg": "Invalid access token"}), 400
            return jsonify({"code": 0, "msg": "ok", "bot": {
                "open_id": self.bot_open_id, "app_name": "relay", "activate_status": 2}})

        @app.post("/open-apis/im/v1/messages")
        def send():
            if request.args.get("receive_id_type") != "chat_id":
                return jsonify({"code": 99992402, "msg": "receive_id_type is required"}), 400
            body = request.get_json(silent=True) or {}
            chat_id = str(body.get("receive_id") or "")
            if self.chats is not None and chat_id not in self.chats and self._authorised():
                # Feishu's send-message error list: 230002, the bot is not in this chat
                return jsonify({"code": 230002, "msg": "Bot/User can NOT be out of the chat."}), 400
            return self._record(chat_id, body, None)

        @app.patch("/open-apis/im/v1/messages/<message_id>")
        def update(message_id: str):
            return self._update(message_id, request.get_json(silent=True) or {})

        @app.post("/open-apis/im/v1/messages/<message_id>/reply")
        def reply(message_id: str):
            return self._record("", request.get_json(silent=True) or {}, message_id)

        return app


# -- Feishu pushing an event to relay ----------------------------------------------------------

def encrypt(encrypt_key: str, plain: str) -> str:
    """Feishu's event encryption: AES-256-CBC, key SHA-256(encrypt key), random IV in front,
    PKCS#7 padding, base64."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain.encode("utf-8")) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode("ascii")


def message_event(token: str, chat_id: str, text: str, *, sender: str = "ou_engineer0001",
                  root_id: str = "", parent_id: str = "",
                  mention_bot: str | None = None) -> dict[str, Any]:
    """An im.message.receive_v1 event (schema 2.0), `@_user_1` standing for the bot."""
    mentions = []
    if mention_bot:
        mentions.append({"key": "@_user_1", "id": {"open_id": mention_bot}, "name": "relay"})
        text = f"@_user_1 {text}"
    ms = str(int(time.time() * 1000))
    return {"schema": "2.0", "header": {
        "event_id": uuidlib.uuid4().hex, "event_type": "im.message.receive_v1",
        "create_time": ms, "token": token, "app_id": "cli_sandbox0001", "tenant_key": "tk"},
        "event": {"sender": {"sender_id": {"open_id": sender}, "sender_type": "user"},
                  "message": {"message_id": f"om_user{uuidlib.uuid4().hex[:20]}",
                              "root_id": root_id, "parent_id": parent_id, "chat_id": chat_id,
                              "chat_type": "group", "message_type": "text", "create_time": ms,
                              "content": json.dumps({"text": text}, ensure_ascii=False),
                              "mentions": mentions}}}


def click_event(token: str, chat_id: str, message_id: str, value: dict[str, Any], *,
                operator: str = "ou_engineer0001") -> dict[str, Any]:
    """A card.action.trigger callback (schema 2.0): a button with `value` clicked on the card
    `message_id` (fields as in lark-oapi's P2CardActionTrigger)."""
    return {"schema": "2.0", "header": {
        "event_id": uuidlib.uuid4().hex, "event_type": "card.action.trigger",
        "create_time": str(int(time.time() * 1000000)), "token": token,
        "app_id": "cli_sandbox0001", "tenant_key": "tk"},
        "event": {"operator": {"tenant_key": "tk", "open_id": operator},
                  "token": f"c-{uuidlib.uuid4().hex}", "host": "im_message",
                  "action": {"tag": "button", "value": value},
                  "context": {"open_message_id": message_id, "open_chat_id": chat_id}}}


def push_event(url: str, event: dict[str, Any], encrypt_key: str | None, now: float,
               timeout: float = 10.0) -> requests.Response:
    """POST an event the way Feishu does: encrypted and signed when there is an Encrypt Key."""
    if encrypt_key is None:
        return requests.post(url, json=event, timeout=timeout)
    body = json.dumps({"encrypt": encrypt(encrypt_key, json.dumps(event))}).encode()
    ts, nonce = str(int(now)), uuidlib.uuid4().hex[:16]
    sig = hashlib.sha256((ts + nonce + encrypt_key).encode() + body).hexdigest()
    return requests.post(url, data=body, timeout=timeout, headers={
        "Content-Type": "application/json", "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": sig})
