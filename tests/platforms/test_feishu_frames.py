"""relay's hand-written protobuf Frame (relay/platforms/feishu/frames.py) against lark-oapi's own
generated `pbbp2_pb2.Frame`: the same bytes both ways, for the frames the long connection carries
(ping, pong with a ClientConfig, events whole and in parts, the response), and malformed bytes
refused with BadFrame, never another exception."""

from __future__ import annotations

import base64
import json

import pytest

from relay.platforms.feishu import frames
from relay.platforms.feishu.frames import BadFrame, Frame, Parts

pbbp2 = pytest.importorskip("lark_oapi.ws.pb.pbbp2_pb2")


def lark(seq_id=0, log_id=0, service=0, method=0, headers=(), payload_encoding=None,
         payload_type=None, payload=None, log_id_new=None):
    frame = pbbp2.Frame()
    frame.SeqID, frame.LogID, frame.service, frame.method = seq_id, log_id, service, method
    for key, value in headers:
        header = frame.headers.add()
        header.key, header.value = key, value
    for name, value in (("payload_encoding", payload_encoding), ("payload_type", payload_type),
                        ("payload", payload), ("LogIDNew", log_id_new)):
        if value is not None:
            setattr(frame, name, value)
    return frame


EVENT = json.dumps({"schema": "2.0", "header": {"event_id": "e1", "event_type":
                    "im.message.receive_v1"}, "event": {"text": "磁盘满了 @relay"}},
                   ensure_ascii=False).encode()
CASES = {
    "ping": dict(service=7, headers=(("type", "ping"),)),
    "pong with a ClientConfig": dict(service=7, headers=(("type", "pong"),),
                                     payload=b'{"PingInterval":90,"ReconnectCount":-1}'),
    "event": dict(seq_id=12, log_id=2**63 + 5, service=7, method=1, headers=(
        ("type", "event"), ("message_id", "m-1"), ("sum", "1"), ("seq", "0"),
        ("trace_id", "t-1")), payload_encoding="", payload_type="", payload=EVENT,
        log_id_new="8a1f-2"),
    "part 2 of 3": dict(seq_id=2**64 - 1, service=-1, method=1, headers=(
        ("type", "event"), ("message_id", "m-2"), ("sum", "3"), ("seq", "1")),
        payload=EVENT[:40]),
    "empty strings, set": dict(headers=(("", ""),), payload_encoding="", payload=b"",
                               log_id_new=""),
    "a big payload": dict(method=1, payload=b"x" * 70_000, headers=(("type", "event"),)),
}


@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_relay_writes_the_bytes_lark_oapi_writes(fields):
    assert frames.encode(Frame(**fields)) == lark(**fields).SerializeToString()


@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_relay_reads_what_lark_oapi_writes_and_writes_it_back_unchanged(fields):
    raw = lark(**fields).SerializeToString()
    frame = frames.decode(raw)
    assert frame == Frame(**fields)
    assert frames.encode(frame) == raw
    parsed = pbbp2.Frame()
    parsed.ParseFromString(frames.encode(frame))
    assert parsed == lark(**fields)


def test_the_ping_is_the_sdks_ping():
    from lark_oapi.ws.client import _new_ping_frame

    assert frames.ping(31) == _new_ping_frame(31).SerializeToString()


def test_the_response_frame_is_what_the_sdk_writes_for_an_event():
    """The SDK's _handle_data_frame: the received frame, a biz_rt header added, the payload
    replaced by {"code": 200} (and "data": base64 of a callback's JSON answer)."""
    from lark_oapi.core.json import JSON
    from lark_oapi.ws.model import Response

    fields = CASES["event"]
    answer = {"toast": {"type": "info", "content": "正在认领"}}
    for data in (None, answer):
        sdk = lark(**fields)
        sdk.headers.add(key="biz_rt", value="3")
        resp = Response(code=200)
        if data is not None:
            resp.data = base64.b64encode(JSON.marshal(data).encode())
        sdk.payload = JSON.marshal(resp).encode()
        ours = frames.response(frames.decode(lark(**fields).SerializeToString()), 200, data, 3)
        assert ours == sdk.SerializeToString()


def test_a_failed_event_is_answered_500_without_biz_rt_as_the_sdk_does():
    from lark_oapi.core.json import JSON
    from lark_oapi.ws.model import Response

    sdk = lark(**CASES["event"])
    sdk.payload = JSON.marshal(Response(code=500)).encode()
    ours = frames.response(frames.decode(lark(**CASES["event"]).SerializeToString()), 500)
    assert ours == sdk.SerializeToString()


@pytest.mark.parametrize("raw", [b"\x08", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
                                 b"\x2a\x05\x0a\x03ab", b"\x42\x80\x01", b"\x0b", b"\x00",
                                 b"\x3a\x02\xff\xfe", b"\x2a\x02\x08\x01"])
def test_malformed_bytes_are_a_bad_frame(raw):
    with pytest.raises(BadFrame):
        frames.decode(raw)


def test_an_oversized_frame_is_refused_before_it_is_read():
    with pytest.raises(BadFrame, match="over"):
        frames.decode(b"\x42" + b"\xff" * (frames.MAX_FRAME_BYTES + 1))


def test_parts_come_back_together_in_any_order():
    parts = Parts()
    assert parts.add("m", 3, 2, b"c") is None
    assert parts.add("m", 3, 0, b"a") is None
    assert parts.add("m", 3, 1, b"b") == b"abc"
    assert parts.add("m", 1, 0, b"whole") == b"whole"
    with pytest.raises(BadFrame):
        parts.add("n", 2, 2, b"x")  # seq beyond sum
    with pytest.raises(BadFrame):
        parts.add("o", frames.MAX_PARTS + 1, 0, b"x")


def test_relay_speaks_the_protocol_without_importing_lark_oapi():
    """lark-oapi stays a test dependency: importing lark_oapi.ws costs seconds and ~90 MB."""
    import subprocess
    import sys

    code = ("import sys, relay.web.app, relay.platforms.feishu.longconn, relay.sandbox.demo; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lark_oapi', 'google')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "[]"
