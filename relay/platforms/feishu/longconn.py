"""The Feishu app bot's long connection (RELAY_FEISHU_EVENTS=long): relay's side of it, as a
`Link` of the shared connection layer (relay/connections/), which keeps it open (deadlines, the
pong watchdog, reconnects, health).

What goes over it, as lark-oapi 1.7.5's ws client does it (lark_oapi/ws/client.py):
* the endpoint call `POST {RELAY_FEISHU_OPEN_BASE_URL}/callback/ws/endpoint` {AppID, AppSecret}
  → {code: 0, data: {URL, ClientConfig: {PingInterval, ReconnectCount, ReconnectInterval,
  ReconnectNonce}}}; code 1 (busy) and 1000040343 are Feishu's trouble, any other code a refusal
  of the app (its own words are shown); the URL's query names the service_id every ping carries;
* protobuf frames (relay/platforms/feishu/frames.py): relay pings every PingInterval (a control
  frame, type ping); a pong may carry a new ClientConfig; an event (a data frame, type event) may
  come in `sum` parts, put back together here;
* every event is answered with the SDK's response frame: {"code": <what /feishu/events would
  answer>}, and for a card callback (`card.action.trigger`) "data": the answer (toast), base64.
  Answering is storing: the event goes through exactly the code /feishu/events uses
  (events.take: once per event_id in the shared database, so a redelivered event, on this replica
  or another, acts once), and the worker does the slow part after the answer, so Feishu's 3 s
  hold. A database that cannot take the event gets code 500, and Feishu pushes it again.
ReconnectCount / ReconnectInterval are not followed: relay never gives up (lark-oapi stops for
good after ReconnectCount tries), with its own capped backoff, ReconnectNonce as extra jitter.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.exc import SQLAlchemyError

from relay import http
from relay.connections import Answer, ConnectError, Endpoint, http_call
from relay.platforms.feishu import frames
from relay.platforms.feishu.buttons import CARD_ACTION_EVENT
from relay.platforms.feishu.events import take
from relay.platforms.feishu.frames import BadFrame, Parts
from relay.platforms.feishu.worker import FEISHU_EVENTS
from relay.store import events as event_store
from relay.web.untrusted import loads

if TYPE_CHECKING:
    import requests
    from websockets.http11 import Response

    from relay.runtime import Runtime

log = logging.getLogger("relay.feishu_events")

ENDPOINT_PATH = "/callback/ws/endpoint"
OK, SYSTEM_BUSY, INTERNAL_ERROR = 0, 1, 1000040343  # lark_oapi/ws/const.py
AUTH_FAILED, FORBIDDEN, EXCEED_CONN_LIMIT = 514, 403, 1000040350
DEFAULT_PING_SECONDS = 120.0  # the SDK's until the endpoint says otherwise
VIA = "Feishu long connection"


class FeishuLink:
    platform = "feishu"

    def __init__(self, rt: Runtime, session: requests.Session | None = None) -> None:
        s = rt.settings
        self.rt = rt
        self.app_id = (s.feishu_app_id or "").strip()
        self._secret = s.feishu_app_secret.get_secret_value().strip() \
            if s.feishu_app_secret else ""
        self.endpoint_url = s.feishu_open_base_url + ENDPOINT_PATH
        self._session = session or http.http_session()
        self._url = ""
        self._service = 0
        self._parts = Parts()
        self.client_config: dict[str, Any] = {}  # the last ClientConfig Feishu sent

    # -- opening -------------------------------------------------------------------------------
    def open(self, deadline: float) -> Endpoint:
        resp = http_call(self._session, "POST", self.endpoint_url, deadline,
                         json={"AppID": self.app_id, "AppSecret": self._secret},
                         headers={"locale": "zh"})
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConnectError("endpoint", f"HTTP {resp.status_code}, not a JSON object")
        code, words = body.get("code"), str(body.get("msg") or "")[:200]
        if resp.status_code != 200 or code in (SYSTEM_BUSY, INTERNAL_ERROR):
            raise ConnectError("endpoint", f"HTTP {resp.status_code}, Feishu code {code}: "
                               f"{words or 'system busy'}")
        if code != OK:
            raise ConnectError("auth", f"Feishu code {code}: {words} (RELAY_FEISHU_APP_ID / "
                               "RELAY_FEISHU_APP_SECRET; the long connection is for 企业自建应用 "
                               "only)")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        url = data.get("URL")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("ws", "wss"):
            raise ConnectError("endpoint", "the endpoint call answered without a ws(s):// URL")
        service = parse_qs(urlsplit(url).query).get("service_id", [""])[0]
        if not service.isascii() or not service.isdigit() or len(service) > 10:
            raise ConnectError("endpoint", "the endpoint URL names no service_id")
        self._url, self._service = url, int(service)
        self._parts = Parts()  # parts never straddle connections
        return self._endpoint(data.get("ClientConfig"))

    def _endpoint(self, config: Any) -> Endpoint:
        """The Endpoint for the ClientConfig Feishu sent (kept when it sent none)."""
        if isinstance(config, dict):
            self.client_config = config
        ping = _seconds(self.client_config.get("PingInterval"), DEFAULT_PING_SECONDS)
        jitter = _seconds(self.client_config.get("ReconnectNonce"), 0.0)
        return Endpoint(self._url, ping, min(jitter, 60.0))

    def refusal(self, response: Response) -> str:
        """The handshake's refusal in Feishu's words (its handshake-* headers)."""
        h = response.headers
        status, words = h.get("handshake-status", ""), h.get("handshake-msg", "")
        if not status:
            return f"HTTP {response.status_code} {response.reason_phrase}"
        if status == str(AUTH_FAILED) and h.get("handshake-autherrcode") == str(EXCEED_CONN_LIMIT):
            return (f"too many connections for this app (Feishu allows 50): {words[:200]}")
        return f"Feishu handshake status {status[:10]}: {words[:200]}"

    def ping_frame(self) -> bytes:
        return frames.ping(self._service)

    # -- frames --------------------------------------------------------------------------------
    def on_frame(self, raw: bytes | str) -> Answer:
        if isinstance(raw, str):
            return Answer(skipped="a text frame (Feishu sends binary protobuf frames)")
        try:
            frame = frames.decode(raw)
        except BadFrame as exc:
            return Answer(skipped=f"an unreadable frame ({exc})")
        kind = frame.header(frames.TYPE) or ""
        if frame.method == frames.CONTROL:
            if kind == frames.PONG and frame.payload:
                try:
                    config = loads(frame.payload)
                except ValueError:
                    return Answer(skipped="a pong whose ClientConfig is not JSON")
                return Answer(endpoint=self._endpoint(config))
            if kind in (frames.PONG, frames.PING):
                return Answer()
            return Answer(skipped="a control frame of an unknown type")
        if frame.method != frames.DATA:
            return Answer(skipped="a frame of an unknown method")
        return self._data(frame, kind)

    def _data(self, frame: frames.Frame, kind: str) -> Answer:
        message_id = frame.header(frames.MESSAGE_ID) or ""
        try:
            total, seq = int(frame.header(frames.SUM) or "1"), int(frame.header(frames.SEQ) or "0")
            payload = self._parts.add(message_id, total, seq, frame.payload or b"")
        except (ValueError, BadFrame):
            return Answer(skipped="an event frame with unreadable sum / seq headers")
        if payload is None:
            return Answer()  # more parts to come
        if kind != frames.EVENT:  # "card": the old message-card callback, which relay's cards
            return Answer(skipped="a data frame that is not an event")  # do not use (nor the SDK)
        started = time.monotonic()
        try:
            event = loads(payload)
        except ValueError:
            event = None
        if not isinstance(event, dict):  # as the SDK, whose handler then fails: code 500
            return Answer(send=[frames.response(frame, 500)], skipped="an event that is not JSON")
        header = event.get("header") if isinstance(event.get("header"), dict) else {}
        event_id = header.get("event_id")
        try:
            seen = isinstance(event_id, str) and len(event_id) <= 128 and \
                event_store.get_event(self.rt.engine, event_id) is not None
            status, body = take(self.rt, event, VIA)
        except SQLAlchemyError as exc:
            log.warning("%s: the database could not take event %s (%s); Feishu will push it "
                        "again", VIA, str(event_id)[:64], type(exc).__name__)
            return Answer(send=[frames.response(frame, 500)])
        kind = header.get("event_type")
        data = body if kind == CARD_ACTION_EVENT and status == 200 else None
        biz_ms = int((time.monotonic() - started) * 1000)
        return Answer(send=[frames.response(frame, status, data, biz_ms)],
                      received=status == 200 and not seen and kind in FEISHU_EVENTS,
                      redelivered=seen,
                      skipped="" if status == 200 else "an event without header.event_id")


def _seconds(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and 0 < value <= 3600 else default

