"""The fake Feishu long connection (relay/sandbox/feishu_long.py) proven with Feishu's own client:
lark-oapi's `ws.Client` makes the endpoint call to it, opens the WebSocket it names, pings it,
receives a message event (sent in two parts) and a card callback, and answers each with its own
response frame, which the fake reads through lark-oapi's generated protobuf Frame. What relay
writes for the same frames is then compared with what the SDK wrote."""

from __future__ import annotations

import asyncio
import threading

import pytest

from relay.platforms.feishu import frames
from relay.sandbox.feishu_app import FakeFeishuApp, click_event, message_event
from relay.sandbox.server import wait_until
from tests.helpers import served

lark = pytest.importorskip("lark_oapi")
pbbp2 = pytest.importorskip("lark_oapi.ws.pb.pbbp2_pb2")

CHAT = "oc_sdkproof000000000000000000001"


class LarkCodec:
    """The fake's frames read and written by lark-oapi's generated code, not relay's."""

    @staticmethod
    def dump(frame: frames.Frame) -> bytes:
        pb = pbbp2.Frame()
        pb.SeqID, pb.LogID, pb.service, pb.method = (frame.seq_id, frame.log_id, frame.service,
                                                     frame.method)
        for key, value in frame.headers:
            pb.headers.add(key=key, value=value)
        for name, value in (("payload_encoding", frame.payload_encoding),
                            ("payload_type", frame.payload_type), ("payload", frame.payload),
                            ("LogIDNew", frame.log_id_new)):
            if value is not None:
                setattr(pb, name, value)
        return pb.SerializeToString()

    @staticmethod
    def load(raw: bytes) -> frames.Frame:
        pb = pbbp2.Frame()
        pb.ParseFromString(raw)
        present = {f.name for f, _ in pb.ListFields()}
        return frames.Frame(
            seq_id=pb.SeqID, log_id=pb.LogID, service=pb.service, method=pb.method,
            headers=tuple((h.key, h.value) for h in pb.headers),
            payload_encoding=pb.payload_encoding if "payload_encoding" in present else None,
            payload_type=pb.payload_type if "payload_type" in present else None,
            payload=pb.payload if "payload" in present else None,
            log_id_new=pb.LogIDNew if "LogIDNew" in present else None)


@pytest.fixture
def open_api():
    yield from served(FakeFeishuApp())


@pytest.fixture
def fake(open_api):
    long = open_api.listen(LarkCodec(), ping_interval=1)
    yield long
    long.stop()


def run_sdk_client(open_api, monkeypatch, received: list):
    """lark-oapi's own ws.Client in a thread with its own event loop; returns a stop()."""
    from lark_oapi.event.callback.model.p2_card_action_trigger import \
        P2CardActionTriggerResponse
    from lark_oapi.ws import client as ws_client

    def on_message(data):
        received.append(("message", data.event.message.message_id))

    def on_click(data):
        received.append(("click", data.event.action.value))
        return P2CardActionTriggerResponse({"toast": {"type": "info", "content": "收到"}})

    handler = (lark.EventDispatcherHandler.builder("", "")
               .register_p2_im_message_receive_v1(on_message)
               .register_p2_card_action_trigger(on_click).build())
    loop = asyncio.new_event_loop()
    monkeypatch.setattr(ws_client, "loop", loop)
    client = ws_client.Client(open_api.app_id, open_api.app_secret, event_handler=handler,
                              domain=open_api.url, log_level=lark.LogLevel.ERROR)

    def run():
        asyncio.set_event_loop(loop)
        try:
            client.start()
        except (RuntimeError, asyncio.CancelledError):  # how this test ends it
            loop.run_until_complete(asyncio.sleep(0.05))  # the other tasks see theirs

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop():
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(10)

    return stop


def test_the_official_sdk_connects_pings_receives_and_answers_in_its_format(open_api, fake,
                                                                            monkeypatch):
    received: list = []
    stop = run_sdk_client(open_api, monkeypatch, received)
    try:
        assert fake.wait_connected(1, timeout=60)
        assert fake.endpoint_requests[0]["AppID"] == open_api.app_id
        message = message_event("", CHAT, "disk full", mention_bot=open_api.bot_open_id)
        said = fake.push(message, parts=2)
        click = fake.push(click_event("", CHAT, "om_card1", {"relay_action": "claim",
                                                             "issue": "issue-x"}))
        assert fake.wait_answered(said, timeout=60) and fake.wait_answered(click, timeout=60)
        assert ("message", message["event"]["message"]["message_id"]) in received
        assert fake.answer(said) == {"code": 200}
        assert fake.answer(click) == {"code": 200, "data": {"toast": {"type": "info",
                                                                      "content": "收到"}}}
        assert wait_until(lambda: fake.pings >= 1, 30)  # PingInterval 1 s, from ClientConfig
    finally:
        stop()
    # what relay writes for the SDK's frames, byte for byte (biz_rt set to the SDK's)
    sdk_answer = fake.responses[click][-1]
    pushed = frames.decode(fake._pushed[click][0])
    ours = frames.response(pushed, 200, {"toast": {"type": "info", "content": "收到"}},
                           int(sdk_answer.header("biz_rt")))
    assert ours == LarkCodec.dump(sdk_answer)


def test_the_fakes_connection_limit_is_the_refusal_the_sdk_knows(open_api, fake):
    """lark-oapi's own reading of the fake's handshake refusal: a ClientException of the
    exceed-connection-limit kind, as from Feishu."""
    from lark_oapi.ws.client import _parse_ws_conn_exception
    from lark_oapi.ws.exception import ClientException
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    fake.max_connections = 0
    url = fake.endpoint({"AppID": open_api.app_id, "AppSecret": open_api.app_secret})[0][
        "data"]["URL"]
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=5)
    with pytest.raises(ClientException, match="514: exceed connection limit"):
        _parse_ws_conn_exception(refused.value)
