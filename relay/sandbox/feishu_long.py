"""A local stand-in for Feishu's long connection (事件与回调 → 使用长连接接收事件/回调), beside the
fake open platform (relay/sandbox/feishu_app.py), on 127.0.0.1: the endpoint call
(`POST /callback/ws/endpoint` {AppID, AppSecret} → {code, data: {URL, ClientConfig}}) and the
WebSocket it names, carrying protobuf Frames.

Past `max_connections` (Feishu allows 50 an app) the handshake is refused as Feishu does.
`push` plays Feishu pushing an event (optionally split in `sum` parts); every frame the client
sends back is recorded: pings (answered with a pong, carrying a ClientConfig when `pong_config`
is set) and the response frames by message_id. `drop` closes every connection; `half_open`
keeps one open but lets nothing through either way (a NAT that forgot it), so only a client's
pong watchdog can notice. The frames are read and written through a codec, relay's own
(relay/platforms/feishu/frames.py) by default; the tests hand it lark-oapi's generated Frame,
so the fake speaks the protocol as the official SDK does, not as relay believes it.
Error codes of the endpoint call not in the SDK's const.py are this fake's own.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import uuid as uuidlib
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from relay.platforms.feishu import frames
from relay.platforms.feishu.frames import CONTROL, DATA, Frame
from relay.sandbox.server import wait_until

ENDPOINT_PATH = "/callback/ws/endpoint"
SERVICE_ID = 33554678


class Codec(Protocol):
    def dump(self, frame: Frame) -> bytes: ...

    def load(self, raw: bytes) -> Frame: ...


class RelayCodec:
    dump = staticmethod(frames.encode)
    load = staticmethod(frames.decode)


class FakeFeishuLong:
    def __init__(self, app_id: str, app_secret: str, codec: Codec | None = None,
                 ping_interval: int = 120, reconnect_nonce: int = 30) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.codec = codec or RelayCodec()
        self.config = {"PingInterval": ping_interval, "ReconnectCount": -1,
                       "ReconnectInterval": 120, "ReconnectNonce": reconnect_nonce}
        self.pong_config: dict[str, int] | None = None  # sent in the next pongs, when set
        self.endpoint_requests: list[dict[str, Any]] = []
        self.connections: list[ServerConnection] = []  # every WebSocket, oldest first
        self.pings = 0
        self.responses: dict[str, list[Frame]] = {}  # message_id → the response frames
        self._muted: set[int] = set()  # id() of half-open connections
        self._pushed: dict[str, list[bytes]] = {}  # message_id → its frames, to push again
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.max_connections = 50  # Feishu's per-app limit; more are refused at the handshake
        self._ws = serve(self._connection, "127.0.0.1", 0, ping_interval=None,
                         process_request=self._admit)
        self.ws_url = f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/ws/v2"
        threading.Thread(target=self._ws.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._ws.shutdown()

    # -- the endpoint call (mounted on the fake open platform) -----------------------------------
    def endpoint(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        self.endpoint_requests.append({k: v for k, v in body.items() if k != "AppSecret"})
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return {"code": 10003, "msg": "invalid app_id or app_secret"}, 200
        ticket = uuidlib.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        url = (f"{self.ws_url}?fpid=493&aid=552564&device_id={next(self._ids)}{ticket[:8]}"
               f"&access_key={ticket[8:20]}&service_id={SERVICE_ID}&ticket={ticket}")
        return {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": self.config}}, 200

    # -- for tests -------------------------------------------------------------------------------
    def open_connections(self) -> list[ServerConnection]:
        with self._lock:
            return [c for c in self.connections if c.state.name == "OPEN"
                    and id(c) not in self._muted]

    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> bool:
        """Until `count` connections have been opened in all (and one is open, not half-open)."""
        return wait_until(lambda: len(self.connections) >= count
                          and bool(self.open_connections()), timeout)

    def wait_answered(self, message_id: str, count: int = 1, timeout: float = 30.0) -> bool:
        return wait_until(lambda: len(self.responses.get(message_id, [])) >= count, timeout)

    def answer(self, message_id: str) -> dict[str, Any]:
        """The last response frame's payload, its "data" (a callback's answer) decoded."""
        body = json.loads(self.responses[message_id][-1].payload or b"{}")
        if isinstance(body.get("data"), str):
            body["data"] = json.loads(base64.b64decode(body["data"]))
        return body

    def push(self, event: dict[str, Any], parts: int = 1, message_id: str | None = None,
             to: int = -1) -> str:
        """An event as a data frame (type event) to an open connection (the newest, or the
        `to`th), split in `parts` frames (headers sum and seq) when asked; its message_id."""
        message_id = message_id or f"msg-{next(self._ids):05d}-{uuidlib.uuid4().hex[:8]}"
        payload = json.dumps(event, ensure_ascii=False).encode()
        size = -(-len(payload) // parts)
        raws = [self.codec.dump(Frame(
            seq_id=next(self._ids), log_id=next(self._ids), service=SERVICE_ID, method=DATA,
            headers=(("type", frames.EVENT), ("message_id", message_id), ("sum", str(parts)),
                     ("seq", str(seq)), ("trace_id", uuidlib.uuid4().hex[:16])),
            payload=payload[seq * size:(seq + 1) * size], log_id_new=f"{seq}-{message_id}"))
            for seq in range(parts)]
        self._pushed[message_id] = raws
        for raw in raws:
            self._send(raw, to)
        return message_id

    def push_again(self, message_id: str, to: int = -1) -> None:
        """The same frames once more (Feishu redelivering an event it saw no answer to), to the
        same or another of the app's connections (Feishu picks one at random)."""
        for raw in self._pushed[message_id]:
            self._send(raw, to)

    def send_raw(self, raw: bytes) -> None:
        self._send(raw, -1)

    def drop(self) -> None:
        """Close every connection at once (the server going away)."""
        for conn in self.open_connections():
            conn.close(1011, "server going away")

    def half_open(self) -> None:
        """The newest connection stays open but nothing passes either way any more."""
        conns = self.open_connections()
        if conns:
            with self._lock:
                self._muted.add(id(conns[-1]))

    def _send(self, raw: bytes, to: int) -> None:
        if not wait_until(lambda: bool(self.open_connections()), 30.0):
            raise RuntimeError("no client is connected to the fake Feishu long connection")
        self.open_connections()[to].send(raw)

    # -- the WebSocket ---------------------------------------------------------------------------
    def _admit(self, conn: ServerConnection, _request: Any):
        """Past max_connections: refused with the handshake-* headers the SDK reads (status
        514, auth error code 1000040350: too many connections); the HTTP status is this fake's."""
        if len(self.open_connections()) < self.max_connections:
            return None
        refusal = conn.respond(403, "too many connections\n")
        refusal.headers["handshake-status"] = "514"
        refusal.headers["handshake-autherrcode"] = "1000040350"
        refusal.headers["handshake-msg"] = "exceed connection limit"
        return refusal

    def _connection(self, conn: ServerConnection) -> None:
        query = parse_qs(urlsplit(conn.request.path).query)  # type: ignore[union-attr]
        ticket = query.get("ticket", [""])[0]
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)  # a URL opens one connection
            if known:
                self.connections.append(conn)
        if not known:
            conn.close(4001, "unknown ticket")
            return
        try:
            for raw in conn:
                if id(conn) in self._muted:
                    continue
                try:
                    frame = self.codec.load(raw if isinstance(raw, bytes) else raw.encode())
                except Exception:  # noqa: BLE001 - a fake skips what it cannot read
                    continue
                self._received(conn, frame)
        except ConnectionClosed:
            pass

    def _received(self, conn: ServerConnection, frame: Frame) -> None:
        kind = frame.header("type")
        if frame.method == CONTROL and kind == frames.PING:
            with self._lock:
                self.pings += 1
            payload = json.dumps(self.pong_config).encode() if self.pong_config else None
            conn.send(self.codec.dump(Frame(service=frame.service, method=CONTROL,
                                            headers=(("type", frames.PONG),), payload=payload)))
        elif frame.method == DATA:
            with self._lock:
                self.responses.setdefault(frame.header("message_id") or "", []).append(frame)
