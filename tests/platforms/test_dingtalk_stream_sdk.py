"""The fake DingTalk Stream gateway (relay/sandbox/dingtalk_app.py) proven with DingTalk's own
client: the official `dingtalk-stream` SDK connects to it through the gateway call and the
ticket, receives a robot message and a SYSTEM ping pushed to it, and acks both in its own format.
What relay itself sends is then compared with what the SDK sent."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from relay.platforms.dingtalk_app.stream import (BOT_MESSAGE_TOPIC, CARD_CALLBACK_TOPIC,
                                                 gateway_request, read_frame, ack)
from relay.sandbox.dingtalk_app import FakeDingTalkApp, bot_message
from relay.sandbox.server import ServerThread

dingtalk_stream = pytest.importorskip("dingtalk_stream")

CONVERSATION = "cidSandboxGroup0001=="


@pytest.fixture
def fake():
    fake = FakeDingTalkApp()
    server = ServerThread(fake.app)
    fake.url = server.url
    yield fake
    server.stop()
    fake.stop()


def run_sdk_client(fake, monkeypatch, received: list):
    """The SDK's own client with one robot-message handler, in a thread of its own."""
    from dingtalk_stream import AckMessage, ChatbotHandler, ChatbotMessage

    monkeypatch.setattr(dingtalk_stream.DingTalkStreamClient, "OPEN_CONNECTION_API",
                        fake.url + "/v1.0/gateway/connections/open")

    class Handler(ChatbotHandler):
        async def process(self, callback):
            received.append(ChatbotMessage.from_dict(callback.data))
            return AckMessage.STATUS_OK, "OK"

    client = dingtalk_stream.DingTalkStreamClient(
        dingtalk_stream.Credential(fake.app_key, fake.app_secret))
    client.register_callback_handler(ChatbotMessage.TOPIC, Handler())
    stopping = threading.Event()
    opened = client.open_connection

    def open_connection():
        if stopping.is_set():  # the SDK's own way out of its loop
            raise KeyboardInterrupt
        return opened()

    client.open_connection = open_connection
    thread = threading.Thread(target=lambda: asyncio.run(client.start()), daemon=True)
    thread.start()

    def stop():
        stopping.set()
        for conn in fake.open_connections():
            conn.close()  # a normal close: the SDK asks the gateway again, and stops
        thread.join(30)

    return stop


def test_the_official_sdk_connects_receives_and_acks_in_its_format(fake, monkeypatch):
    received: list = []
    stop = run_sdk_client(fake, monkeypatch, received)
    try:
        assert fake.wait_connected(1, timeout=60)
        message_id = fake.push(BOT_MESSAGE_TOPIC, bot_message(CONVERSATION, "#issue_x#hi",
                                                              fake.app_key))
        ping = fake.system("ping", {"opaque": "b5d2c1"})
        assert fake.wait_acked(message_id, timeout=60) and fake.wait_acked(ping, timeout=60)
    finally:
        stop()
    (sdk_ack,) = fake.acks[message_id]
    assert sdk_ack["code"] == 200
    assert sdk_ack["headers"] == {"contentType": "application/json", "messageId": message_id}
    assert json.loads(sdk_ack["data"]) == {"response": "OK"}
    assert received[0].text.content == " #issue_x#hi"
    assert received[0].conversation_id == CONVERSATION
    (ping_ack,) = fake.acks[ping]
    assert json.loads(ping_ack["data"]) == {"opaque": "b5d2c1"}  # the ping's data echoed
    assert ping_ack["headers"]["messageId"] == ping
    # relay's gateway call has the SDK's fields, subscribing to the card callbacks too
    (sdk_open,) = fake.gateway_requests
    ours = gateway_request(fake.app_key, fake.app_secret, "relay/test", "")
    assert set(ours) == set(sdk_open)
    assert {"type": "CALLBACK", "topic": BOT_MESSAGE_TOPIC} in sdk_open["subscriptions"]
    assert ours["subscriptions"] == [{"type": "CALLBACK", "topic": BOT_MESSAGE_TOPIC},
                                     {"type": "CALLBACK", "topic": CARD_CALLBACK_TOPIC}]


def test_relay_acks_as_the_sdk_does():
    """relay's ack of a ping and of a callback, field by field as the SDK's AckMessage."""
    from dingtalk_stream.frames import AckMessage, Headers

    raw = json.dumps({"specVersion": "1.0", "type": "SYSTEM", "headers": {
        "messageId": "m-1", "topic": "ping", "contentType": "application/json"},
        "data": json.dumps({"opaque": "x"})})
    frame = read_frame(raw)
    sdk = AckMessage()
    sdk.headers.message_id = "m-1"
    sdk.headers.content_type = Headers.CONTENT_TYPE_APPLICATION_JSON
    sdk.message = "OK"
    sdk.data = {"opaque": "x"}
    assert json.loads(ack(frame)) == sdk.to_dict()
