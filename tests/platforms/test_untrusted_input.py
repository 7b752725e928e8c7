"""Hostile input to the public routes (/feishu/events, /dingtalk/reply, /feishu/reply): JSON
nested deeper than the parser's recursion, timestamp headers that `str.isdigit()` takes but
`int()` does not (`²`, thousands of digits). Each is a 400 with a JSON reason and at most one
short log line: never a 500, never a traceback in the log."""

from __future__ import annotations

import json
import logging

import pytest

from relay.web.app import create_app
from tests.appbot import EKEY, VTOKEN, encrypt, sign
from tests.helpers import REPLY_TOKEN, assert_json_error
from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention

NESTED = "[" * 200_000  # 200 KB: deeper than any JSON parser's recursion
BAD_TIMESTAMPS = ["²", "1" * 5000, "١٢٣"]  # isdigit() takes each; int() fails or is not ASCII


@pytest.fixture
def quiet(caplog):
    """The log lines of one request: at most one, short, without a traceback."""
    caplog.set_level(logging.DEBUG)

    def check():
        lines = [r for r in caplog.records if r.name.startswith("relay")]
        assert len(lines) <= 1, [r.getMessage() for r in lines]
        for record in lines:
            assert record.exc_info is None and record.exc_text is None, record.getMessage()
            assert len(record.getMessage()) < 300
        caplog.clear()

    return check


def test_deeply_nested_json_to_feishu_events_is_400(app_rt, quiet):
    for key in (None, EKEY):
        client = create_app(app_rt(feishu_encrypt_key=key)).test_client()
        resp = client.post("/feishu/events", data=NESTED, content_type="application/json")
        assert "JSON" in assert_json_error(resp, 400)["error"]
        quiet()


def test_deeply_nested_json_inside_the_encrypted_envelope_is_400(app_rt, quiet):
    client = create_app(app_rt()).test_client()
    inner = NESTED[:150_000]  # encrypted and base64-encoded it stays under the 256 KB limit
    resp = client.post("/feishu/events", json={"encrypt": encrypt(EKEY, inner)})
    assert_json_error(resp, 400)
    quiet()


@pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS)
def test_odd_digits_in_the_feishu_timestamp_are_400(app_rt, clock, quiet, timestamp):
    client = create_app(app_rt()).test_client()
    body = json.dumps({"encrypt": encrypt(EKEY, json.dumps({"header": {"token": VTOKEN}}))})
    resp = client.post("/feishu/events", data=body, content_type="application/json", headers={
        "X-Lark-Request-Timestamp": timestamp, "X-Lark-Request-Nonce": "n",
        "X-Lark-Signature": sign(timestamp, "n", EKEY, body.encode())})
    assert "timestamp" in assert_json_error(resp, 400)["error"].lower()
    quiet()


@pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS)
def test_odd_digits_in_the_dingtalk_timestamp_are_400(make_runtime, guance, quiet, timestamp):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    uuid = guance.add_issue("disk full")
    resp = client.post("/dingtalk/reply", json=mention(f"#{uuid}#hi"),
                       headers={"timestamp": timestamp, "sign": "c2lnbg=="})
    assert "timestamp" in assert_json_error(resp, 400)["error"]
    assert guance.comments(uuid) == []
    quiet()


def test_deeply_nested_json_from_a_signed_dingtalk_request_is_answered(make_runtime, clock,
                                                                       quiet):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET)).test_client()
    resp = client.post("/dingtalk/reply", data=NESTED, content_type="application/json",
                       headers=headers(clock))
    assert resp.status_code == 200 and "only text messages" in resp.get_json()["text"]["content"]
    quiet()


def test_deeply_nested_json_to_feishu_reply_is_400(make_runtime, quiet):
    client = create_app(make_runtime()).test_client()
    resp = client.post("/feishu/reply", data=NESTED, content_type="application/json",
                       headers={"Authorization": f"Bearer {REPLY_TOKEN}"})
    assert "no message" in assert_json_error(resp, 400)["error"]
    quiet()
