"""Fixtures and helpers for the Feishu app bot tests: the fake open platform, a runtime routing
the `default` channel to an app-bot chat, and Feishu's event encryption and signature written
out here from the documented algorithm (not taken from relay)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.sandbox.feishu_app import FakeFeishuApp, message_event
from tests.helpers import served

VTOKEN = "verification-token-abc123"
EKEY = "encrypt-key-xyz789"
CHAT = "oc_opschat00000000000000000001"
OTHER_CHAT = "oc_otherchat000000000000000002"
ENGINEER = "ou_engineer0001"


@pytest.fixture
def open_api(clock):
    yield from served(FakeFeishuApp(clock=clock))


@pytest.fixture
def app_rt(make_runtime, open_api):
    """A runtime whose `default` channel goes to the app-bot chat CHAT; events encrypted."""

    def make(**overrides):
        values = dict(feishu_app_id=open_api.app_id, feishu_app_secret=open_api.app_secret,
                      feishu_verification_token=VTOKEN, feishu_encrypt_key=EKEY,
                      feishu_open_base_url=open_api.url, feishu_app_chats={"ops-chat": CHAT},
                      routes={"default": ["ops-chat"]})
        values.update(overrides)
        return make_runtime(**values)

    return make


def send_card(rt, guance, clock, title="Disk full on db-1") -> tuple[str, str]:
    """An issue relayed as a card to CHAT: (issue uuid, the card's message_id)."""
    poll(rt)
    clock.advance(30)
    uuid = guance.add_issue(title, message="/var at 99%")
    clock.advance(30)
    poll(rt)
    report = deliver(rt)
    assert report.sent == 1, report
    return uuid, _last_card_id(rt)


def _last_card_id(rt) -> str:
    from sqlalchemy import select

    from relay.store.outbox import Delivery

    with rt.engine.connect() as conn:
        return conn.scalar(select(Delivery.message_id).order_by(Delivery.id.desc()).limit(1))


def encrypt(key: str, plain: str, iv: bytes | None = None) -> str:
    """As documented: AES-256-CBC with key SHA-256(encrypt key), IV prefix, PKCS#7, base64."""
    aes_key = hashlib.sha256(key.encode()).digest()
    iv = iv or os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()


def sign(ts: str, nonce: str, key: str, body: bytes) -> str:
    """As documented: hex SHA-256 over timestamp + nonce + encrypt key, then the raw body."""
    return hashlib.sha256((ts + nonce + key).encode() + body).hexdigest()


def signed_post(client_or_url, event: dict, now: float, key: str = EKEY, ts: str | None = None,
                nonce: str = "nonce-1"):
    """POST the event encrypted and signed, through a Flask test client (or a URL)."""
    body = json.dumps({"encrypt": encrypt(key, json.dumps(event))}).encode()
    ts = ts if ts is not None else str(int(now))
    headers = {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
               "X-Lark-Signature": sign(ts, nonce, key, body),
               "Content-Type": "application/json"}
    if isinstance(client_or_url, str):
        import requests

        return requests.post(client_or_url, data=body, headers=headers, timeout=10)
    return client_or_url.post("/feishu/events", data=body, headers=headers)


def thread_reply(open_api, text: str, root_id: str = "", parent_id: str = "", chat: str = CHAT,
                 sender: str = ENGINEER, mention: bool = True) -> dict:
    return message_event(VTOKEN, chat, text, sender=sender, root_id=root_id, parent_id=parent_id,
                         mention_bot=open_api.bot_open_id if mention else None)


def wait_for(predicate, timeout: float = 8.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")
