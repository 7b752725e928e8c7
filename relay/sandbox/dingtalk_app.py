"""A local stand-in for DingTalk's side of an enterprise internal app robot: the OpenAPI
(access tokens, group messages, interactive cards created, delivered and updated) and the Stream
gateway with its WebSocket, on 127.0.0.1, speaking the documented wire formats.

FakeDingTalkApp hands out access tokens that expire on its clock and refuses expired ones with
HTTP 401; the gateway hands out one-use tickets for the WebSocket; `push` plays DingTalk pushing
a frame to the connected client (robot @-messages, card clicks, SYSTEM ping / disconnect) and
`acks` records every ack by messageId, as DingTalk would before it stops pushing a frame again.
`drop` closes the connection from the server's side without a word.

The error codes and texts are this fake's own where DingTalk documents none (relay reads only
the HTTP status and QPS codes).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid as uuidlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask, jsonify, request
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from relay.clock import Clock
from relay.platforms.dingtalk_app.openapi import TOKEN_HEADER, open_space
from relay.platforms.dingtalk_app.stream import CALLBACK, SYSTEM
from relay.sandbox.server import wait_until  # noqa: F401 - the tests import it from here


class FakeDingTalkApp:
    def __init__(self, app_key: str = "dingsandboxappkey01", app_secret: str = "sandbox-secret",
                 clock: Clock | None = None, token_expire: int = 7200) -> None:
        self.app_key, self.app_secret = app_key, app_secret
        self.clock = clock or Clock()
        self.token_expire = token_expire
        self.token_requests = 0
        self.gateway_requests: list[dict[str, Any]] = []  # the bodies of the gateway calls
        self.group_messages: list[dict[str, Any]] = []  # {conversation, text, robotCode}
        self.cards: dict[str, dict[str, Any]] = {}  # outTrackId → {conversation, params, …}
        self.updates: list[tuple[str, dict[str, str]]] = []  # (outTrackId, params) per update
        self.refuse_updates = False  # answer card updates with a 400 (e.g. the card is gone)
        self.gateway_busy = 0  # refuse this many gateway calls with 429 and a Retry-After
        self.gateway_calls: list[float] = []  # when each gateway call came (time.monotonic())
        self.acks: dict[str, list[dict[str, Any]]] = {}  # messageId → the acks received
        self.connections: list[ServerConnection] = []  # every WebSocket, oldest first
        self._frames: dict[str, str] = {}  # messageId → the frame as pushed (to push it again)
        self._tokens: dict[str, float] = {}
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = self._make_app()
        self._ws = serve(self._connection, "127.0.0.1", 0, ping_interval=None)
        self.ws_url = f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/connect"
        self._ws_thread = threading.Thread(target=self._ws.serve_forever, daemon=True)
        self._ws_thread.start()

    def stop(self) -> None:
        self._ws.shutdown()

    # -- for tests -------------------------------------------------------------------------------
    def texts_in(self, conversation: str) -> list[str]:
        return [m["text"] for m in self.group_messages if m["conversation"] == conversation]

    def cards_in(self, conversation: str) -> list[dict[str, Any]]:
        return [c for c in self.cards.values() if c["conversation"] == conversation]

    def open_connections(self) -> list[ServerConnection]:
        with self._lock:
            return [c for c in self.connections if c.state.name == "OPEN"]

    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> bool:
        """Until `count` connections have been opened in all (and the last one is open)."""
        return wait_until(lambda: len(self.connections) >= count and bool(self.open_connections()),
                     timeout)

    def wait_acked(self, message_id: str, count: int = 1, timeout: float = 30.0) -> bool:
        return wait_until(lambda: len(self.acks.get(message_id, [])) >= count, timeout)

    # -- Stream: pushing frames ------------------------------------------------------------------
    def push(self, topic: str, data: dict[str, Any], kind: str = CALLBACK,
             message_id: str | None = None, to: int = -1) -> str:
        """Send one frame to the newest open connection (or open connection number `to`, as
        DingTalk pushes each frame to one of the app's connections); its messageId."""
        message_id = message_id or f"msg-{next(self._ids):05d}-{uuidlib.uuid4().hex[:8]}"
        frame = json.dumps({"specVersion": "1.0", "type": kind, "headers": {
            "appId": self.app_key, "connectionId": "conn-sandbox", "contentType":
            "application/json", "messageId": message_id, "time": str(int(time.time() * 1000)),
            "topic": topic}, "data": json.dumps(data, ensure_ascii=False)}, ensure_ascii=False)
        self._frames[message_id] = frame
        self._send(frame, to)
        return message_id

    def push_again(self, message_id: str, to: int = -1) -> None:
        """The same frame once more (DingTalk redelivering a frame it saw no ack for)."""
        self._send(self._frames[message_id], to)

    def system(self, topic: str, data: dict[str, Any] | None = None) -> str:
        return self.push(topic, data or {}, kind=SYSTEM)

    def drop(self) -> None:
        """Close every connection at once (the server going away)."""
        for conn in self.open_connections():
            conn.close(1011, "server going away")

    def _send(self, frame: str, to: int = -1) -> None:
        if not wait_until(lambda: bool(self.open_connections()), 30.0):
            raise RuntimeError("no client is connected to the fake DingTalk Stream")
        self.open_connections()[to].send(frame)

    def _connection(self, conn: ServerConnection) -> None:
        ticket = parse_qs(urlsplit(conn.request.path).query).get("ticket", [""])[0]
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)  # a ticket opens one connection
            if known:
                self.connections.append(conn)
        if not known:
            conn.close(4001, "unknown ticket")
            return
        try:
            for raw in conn:
                try:
                    answer = json.loads(raw)
                    message_id = answer["headers"]["messageId"]
                except (ValueError, KeyError, TypeError):
                    continue
                with self._lock:
                    self.acks.setdefault(message_id, []).append(answer)
        except ConnectionClosed:
            pass

    # -- the OpenAPI -----------------------------------------------------------------------------
    def _authorised(self) -> bool:
        with self._lock:
            expiry = self._tokens.get(request.headers.get(TOKEN_HEADER, ""))
        return expiry is not None and self.clock.now() < expiry

    def _make_app(self) -> Flask:
        app = Flask("fake-dingtalk-open")

        def refused(status: int, code: str, message: str):
            return jsonify({"code": code, "message": message,
                            "requestid": uuidlib.uuid4().hex}), status

        @app.post("/v1.0/oauth2/accessToken")
        def token():
            body = request.get_json(silent=True) or {}
            with self._lock:
                self.token_requests += 1
            if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
                return refused(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
            value = uuidlib.uuid4().hex
            with self._lock:
                self._tokens[value] = self.clock.now() + self.token_expire
            return jsonify({"accessToken": value, "expireIn": self.token_expire})

        @app.post("/v1.0/gateway/connections/open")
        def gateway():
            body = request.get_json(silent=True) or {}
            self.gateway_requests.append(body)
            self.gateway_calls.append(time.monotonic())
            if self.gateway_busy > 0:  # this fake's words: DingTalk documents no such refusal
                self.gateway_busy -= 1
                answer = refused(429, "Throttling", "too many connections, try again later")
                answer[0].headers["Retry-After"] = "2"
                return answer
            if body.get("clientId") != self.app_key or body.get(
                    "clientSecret") != self.app_secret:
                return refused(401, "InvalidAuthentication", "clientId or clientSecret wrong")
            subscriptions = body.get("subscriptions")
            if not isinstance(subscriptions, list) or not subscriptions:
                return refused(400, "InvalidParameter", "subscriptions is empty")
            ticket = uuidlib.uuid4().hex
            with self._lock:
                self._tickets.add(ticket)
            return jsonify({"endpoint": self.ws_url, "ticket": ticket})

        @app.post("/v1.0/robot/groupMessages/send")
        def group_message():
            if not self._authorised():
                return refused(401, "InvalidAuthentication", "不合法的access_token")
            body = request.get_json(silent=True) or {}
            try:
                param = json.loads(body.get("msgParam") or "")
            except ValueError:
                return refused(400, "InvalidParameter", "msgParam is not JSON")
            if body.get("msgKey") != "sampleText" or not body.get("openConversationId"):
                return refused(400, "InvalidParameter", "msgKey / openConversationId")
            self.group_messages.append({"conversation": body["openConversationId"],
                                        "text": param.get("content", ""),
                                        "robotCode": body.get("robotCode")})
            return jsonify({"processQueryKey": uuidlib.uuid4().hex})

        @app.post("/v1.0/card/instances/createAndDeliver")
        def card_create():
            if not self._authorised():
                return refused(401, "InvalidAuthentication", "不合法的access_token")
            body = request.get_json(silent=True) or {}
            track, space = body.get("outTrackId"), str(body.get("openSpaceId") or "")
            params = (body.get("cardData") or {}).get("cardParamMap")
            if not track or not body.get("cardTemplateId") or not isinstance(params, dict) \
                    or not space.startswith(open_space("")):
                return refused(400, "param.invalid", "outTrackId, cardTemplateId, cardData, "
                               "openSpaceId")
            if any(not isinstance(v, str) for v in params.values()):
                return refused(400, "param.invalid", "cardParamMap values must be strings")
            with self._lock:
                if track not in self.cards:
                    self.cards[track] = {"conversation": space[len(open_space("")):],
                                         "template": body["cardTemplateId"],
                                         "callbackType": body.get("callbackType"),
                                         "robotCode": (body.get("imGroupOpenDeliverModel")
                                                       or {}).get("robotCode"),
                                         "params": dict(params)}
            return jsonify({"success": True, "result": {"outTrackId": track, "deliverResults": [
                {"spaceType": "IM_GROUP", "spaceId": space, "success": True,
                 "carrierId": uuidlib.uuid4().hex}]}})

        @app.put("/v1.0/card/instances")
        def card_update():
            if not self._authorised():
                return refused(401, "InvalidAuthentication", "不合法的access_token")
            body = request.get_json(silent=True) or {}
            track = body.get("outTrackId")
            params = (body.get("cardData") or {}).get("cardParamMap")
            if self.refuse_updates or track not in self.cards or not isinstance(params, dict):
                return refused(400, "cardInstance.notExist", "the card cannot be updated")
            with self._lock:
                by_key = (body.get("cardUpdateOptions") or {}).get("updateCardDataByKey")
                card = self.cards[track]
                card["params"] = {**card["params"], **params} if by_key else dict(params)
                self.updates.append((track, dict(params)))
            return jsonify({"success": True, "result": True})

        return app


# -- what DingTalk pushes ------------------------------------------------------------------------

def bot_message(conversation: str, text: str, robot_code: str, *,
                staff_id: str = "manager4220", nick: str = "Li Lei") -> dict[str, Any]:
    """A robot @-message in a group (topic /v1.0/im/bot/messages/get), with the fields of the
    official SDK's ChatbotMessage."""
    now = int(time.time() * 1000)
    return {"conversationId": conversation, "conversationType": "2",
            "conversationTitle": "payments on-call", "chatbotCorpId": "dingcorp0001",
            "chatbotUserId": "$:LWCP_v1:$robot", "msgId": f"msg{uuidlib.uuid4().hex[:16]}",
            "senderNick": nick, "isAdmin": False, "senderStaffId": staff_id,
            "senderId": f"$:LWCP_v1:${staff_id}", "senderCorpId": "dingcorp0001",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x",
            "sessionWebhookExpiredTime": now + 3600_000, "createAt": now, "isInAtList": True,
            "robotCode": robot_code, "msgtype": "text", "text": {"content": f" {text}"}}


def card_click(out_track_id: str, action: str, user_id: str = "manager4220") -> dict[str, Any]:
    """A button click on an interactive card (topic /v1.0/card/instances/callback), fields as
    the official SDK's CardCallbackMessage reads them."""
    content = {"cardPrivateData": {"actionIds": [action], "params": {"action": action}}}
    return {"outTrackId": out_track_id, "userId": user_id, "corpId": "dingcorp0001",
            "type": "actionCallback", "spaceType": "IM_GROUP", "userIdType": 1,
            "content": json.dumps(content), "extension": "{}"}

