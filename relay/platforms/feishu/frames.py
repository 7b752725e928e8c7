"""Feishu's long connection, the wire format: the protobuf `pbbp2.Frame` every WebSocket message
is, written out by hand (relay does not import lark-oapi: `lark_oapi.ws` alone costs 3.8 s and
90 MB), and the parts of the protocol built from it: the ping, the reassembly of an event sent in
`sum` parts, the response frame. tests/platforms/test_feishu_frames.py proves the bytes equal to
lark-oapi's own generated `pbbp2_pb2.Frame` both ways.

    message Header { required string key = 1; required string value = 2; }
    message Frame {
      required uint64 SeqID = 1; required uint64 LogID = 2;
      required int32 service = 3; required int32 method = 4;  // 0 control, 1 data
      repeated Header headers = 5;
      optional string payload_encoding = 6; optional string payload_type = 7;
      optional bytes payload = 8; optional string LogIDNew = 9;
    }

proto2: the required fields are always written, an optional one only when set (so `None` here
is "absent", which is not the same bytes as ""), fields in number order.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

CONTROL, DATA = 0, 1  # Frame.method
PING, PONG, EVENT, CARD = "ping", "pong", "event", "card"  # the `type` header
MAX_FRAME_BYTES = 1 << 20  # an event is a few KB; Feishu splits big ones into `sum` parts
MAX_PARTS = 64  # parts of one event, at most
PARTS_SECONDS = 5.0  # parts of an event not complete within this are dropped (as the SDK does)
MAX_PENDING = 256  # events waiting for their other parts, at most

# the SDK's header names (lark_oapi/ws/const.py)
TYPE, MESSAGE_ID, SUM, SEQ, TRACE_ID, BIZ_RT = "type", "message_id", "sum", "seq", "trace_id", \
    "biz_rt"


class BadFrame(ValueError):
    """Bytes that are not a Frame relay can read: logged and skipped."""


@dataclass(frozen=True)
class Frame:
    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = CONTROL
    headers: tuple[tuple[str, str], ...] = ()
    payload_encoding: str | None = None
    payload_type: str | None = None
    payload: bytes | None = None
    log_id_new: str | None = None

    def header(self, key: str) -> str | None:
        return next((v for k, v in self.headers if k == key), None)


# -- protobuf, the few parts of it a Frame uses ---------------------------------------------------

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int32 is written as its 64-bit two's complement
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _chunk(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def encode(frame: Frame) -> bytes:
    out = [_key(1, 0) + _varint(frame.seq_id), _key(2, 0) + _varint(frame.log_id),
           _key(3, 0) + _varint(frame.service), _key(4, 0) + _varint(frame.method)]
    for key, value in frame.headers:
        out.append(_chunk(5, _chunk(1, key.encode()) + _chunk(2, value.encode())))
    for number, value in ((6, frame.payload_encoding), (7, frame.payload_type),
                          (8, frame.payload), (9, frame.log_id_new)):
        if value is not None:
            out.append(_chunk(number, value if isinstance(value, bytes) else value.encode()))
    return b"".join(out)


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, varint value or bytes) in order; BadFrame on anything malformed."""
    out: list[tuple[int, int | bytes]] = []
    i, n = 0, len(data)

    def varint() -> int:
        nonlocal i
        value = shift = 0
        while True:
            if i >= n or shift > 63:
                raise BadFrame("a truncated or overlong varint")
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while i < n:
        key = varint()
        number, wire = key >> 3, key & 7
        if number == 0:
            raise BadFrame("field number 0")
        if wire == 0:
            out.append((number, varint()))
        elif wire == 2:
            size = varint()
            if i + size > n:
                raise BadFrame("a field longer than the frame")
            out.append((number, data[i:i + size]))
            i += size
        elif wire in (1, 5):  # fixed64 / fixed32: no Frame field is one; skipped
            i += 8 if wire == 1 else 4
            if i > n:
                raise BadFrame("a truncated fixed-size field")
        else:
            raise BadFrame(f"wire type {wire}")
    return out


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise BadFrame("a string field sent as a number")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise BadFrame("a string field that is not UTF-8") from None


def _number(value: int | bytes, bits: int, signed: bool) -> int:
    if isinstance(value, bytes):
        raise BadFrame("a number field sent as bytes")
    value &= (1 << bits) - 1
    return value - (1 << bits) if signed and value >> (bits - 1) else value


def decode(data: bytes) -> Frame:
    if len(data) > MAX_FRAME_BYTES:
        raise BadFrame(f"a frame of {len(data)} bytes (over {MAX_FRAME_BYTES})")
    values: dict[str, Any] = {}
    headers: list[tuple[str, str]] = []
    for number, value in _fields(data):
        if number in (1, 2):
            values["seq_id" if number == 1 else "log_id"] = _number(value, 64, False)
        elif number in (3, 4):
            values["service" if number == 3 else "method"] = _number(value, 32, True)
        elif number == 5:
            if not isinstance(value, bytes):
                raise BadFrame("a header sent as a number")
            pair = {k: _text(v) for k, v in _fields(value) if k in (1, 2)}
            headers.append((pair.get(1, ""), pair.get(2, "")))
        elif number == 8:
            if not isinstance(value, bytes):
                raise BadFrame("the payload sent as a number")
            values["payload"] = value
        elif number in (6, 7, 9):
            values[{6: "payload_encoding", 7: "payload_type", 9: "log_id_new"}[number]] = \
                _text(value)
        # any other field: a newer protocol's; skipped
    return Frame(headers=tuple(headers), **values)


# -- the protocol ---------------------------------------------------------------------------------

def ping(service: int) -> bytes:
    """The client's ping (the SDK's `_new_ping_frame`): a control frame, type ping."""
    return encode(Frame(service=service, method=CONTROL, headers=((TYPE, PING),)))


def response(frame: Frame, code: int, data: Any = None, biz_ms: int | None = None) -> bytes:
    """What the SDK writes back for an event frame: the frame itself, a `biz_rt` header (the
    handler's milliseconds; not on a failure) added, the payload replaced by the JSON
    {"code": …} and, for a callback's answer, "data": base64 of the answer's JSON."""
    body: dict[str, Any] = {"code": code}
    if data is not None:
        body["data"] = base64.b64encode(json.dumps(data, ensure_ascii=False).encode()).decode()
    headers = frame.headers + (((BIZ_RT, str(biz_ms)),) if biz_ms is not None else ())
    return encode(replace(frame, headers=headers,
                          payload=json.dumps(body, ensure_ascii=False).encode()))


class Parts:
    """Events Feishu sent in `sum` parts (headers sum, seq 0-based), put back together; the parts
    of one message_id not all in within PARTS_SECONDS are dropped (Feishu sends it again)."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[float, list[bytes | None]]] = {}
        self._lock = threading.Lock()

    def add(self, message_id: str, total: int, seq: int, payload: bytes) -> bytes | None:
        """The whole payload once its last part is in; None while parts are missing."""
        if not 1 <= total <= MAX_PARTS or not 0 <= seq < total:
            raise BadFrame(f"part {seq} of {total} (at most {MAX_PARTS} parts)")
        if total == 1:
            return payload
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (at, _) in self._pending.items() if now - at > PARTS_SECONDS]:
                del self._pending[key]
            at, parts = self._pending.get(message_id, (now, [None] * total))
            if len(parts) != total:
                raise BadFrame(f"parts of one event announced as {len(parts)} and {total}")
            if message_id not in self._pending and len(self._pending) >= MAX_PENDING:
                raise BadFrame(f"over {MAX_PENDING} events waiting for their parts")
            parts[seq] = payload
            if any(p is None for p in parts):
                self._pending[message_id] = (at, parts)
                return None
            self._pending.pop(message_id, None)
            return b"".join(p for p in parts if p is not None)
