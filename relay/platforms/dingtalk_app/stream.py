"""DingTalk's Stream mode, the wire format: the gateway call that opens a connection, the frames
that come over the WebSocket, and the ack each one gets. Pure functions: the connection itself
(deadlines, watchdog, reconnects) is the shared connection layer's.

* `POST {api}/v1.0/gateway/connections/open` {clientId, clientSecret, subscriptions:
  [{type: EVENT|CALLBACK, topic}], ua, localIp} → {endpoint, ticket}; then the WebSocket
  `endpoint?ticket=<ticket>`.
* A frame is JSON {specVersion, type: SYSTEM|EVENT|CALLBACK, headers: {topic, messageId,
  contentType, time, …}, data: "<JSON string>"}.
* Every frame is acked with {code: 200, headers: {contentType, messageId}, message, data}: a
  SYSTEM `ping` with its own data echoed; a SYSTEM `disconnect` says the server will close this
  connection soon, so the client opens another at once.
As the official dingtalk-stream SDK (0.24.3, stream.py / frames.py / handlers.py) does it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

GATEWAY_PATH = "/v1.0/gateway/connections/open"
BOT_MESSAGE_TOPIC = "/v1.0/im/bot/messages/get"  # @-messages to the robot
CARD_CALLBACK_TOPIC = "/v1.0/card/instances/callback"  # interactive-card button clicks
TOPICS = (BOT_MESSAGE_TOPIC, CARD_CALLBACK_TOPIC)
SYSTEM, EVENT, CALLBACK = "SYSTEM", "EVENT", "CALLBACK"
PING, DISCONNECT = "ping", "disconnect"
JSON_TYPE = "application/json"
MAX_FRAME_BYTES = 1 << 20  # a robot message is at most a few KB; anything near this is not one


class BadFrame(ValueError):
    """A frame relay cannot read (not JSON, no messageId, …): logged and skipped."""


@dataclass(frozen=True)
class Frame:
    type: str
    topic: str
    message_id: str
    data: str  # the JSON string as sent (a ping's is echoed back unchanged)

    def body(self) -> dict[str, Any]:
        """`data` read as a JSON object; BadFrame when it is none."""
        try:
            value = json.loads(self.data) if self.data else {}
        except ValueError:
            raise BadFrame(f"{self.topic} {self.message_id}: data is not JSON") from None
        if not isinstance(value, dict):
            raise BadFrame(f"{self.topic} {self.message_id}: data is not a JSON object")
        return value


def gateway_request(client_id: str, client_secret: str, ua: str, local_ip: str = ""
                    ) -> dict[str, Any]:
    """The body of the gateway call: relay subscribes to robot messages and card callbacks."""
    return {"clientId": client_id, "clientSecret": client_secret,
            "subscriptions": [{"type": CALLBACK, "topic": topic} for topic in TOPICS],
            "ua": ua, "localIp": local_ip}


def socket_url(answer: Any) -> str:
    """The WebSocket URL from the gateway's answer {endpoint, ticket}; BadFrame without them."""
    if not isinstance(answer, dict) or not isinstance(answer.get("endpoint"), str) \
            or not isinstance(answer.get("ticket"), str):
        raise BadFrame("the gateway answered without endpoint and ticket")
    return f"{answer['endpoint']}?ticket={quote_plus(answer['ticket'])}"


def read_frame(raw: str | bytes) -> Frame:
    if len(raw) > MAX_FRAME_BYTES:
        raise BadFrame(f"a frame over {MAX_FRAME_BYTES} bytes")
    try:
        value = json.loads(raw)
    except ValueError:
        raise BadFrame("a frame that is not JSON") from None
    headers = value.get("headers") if isinstance(value, dict) else None
    if not isinstance(headers, dict) or not isinstance(headers.get("messageId"), str) \
            or not headers["messageId"] or len(headers["messageId"]) > 100:
        raise BadFrame("a frame without headers.messageId")
    data = value.get("data", "")
    if not isinstance(data, str):  # the protocol sends a JSON string; an object is taken too
        data = json.dumps(data, ensure_ascii=False)
    return Frame(str(value.get("type") or ""), str(headers.get("topic") or ""),
                 headers["messageId"], data)


def ack(frame: Frame, data: str | None = None, code: int = 200, message: str = "OK") -> str:
    """The acknowledgement DingTalk waits for (unacked frames are pushed again); `data` is a
    JSON string, by default a ping's own data or `{"response": null}`."""
    if data is None:
        data = frame.data if frame.type == SYSTEM else json.dumps({"response": None})
    return json.dumps({"code": code, "headers": {"contentType": JSON_TYPE,
                                                 "messageId": frame.message_id},
                       "message": message, "data": data}, ensure_ascii=False)
