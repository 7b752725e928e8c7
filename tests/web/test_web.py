"""`POST /feishu/reply`: a Feishu reply becomes a comment on the Guance issue, and every failure
is a JSON answer with the status a caller can act on."""

from __future__ import annotations

import re

import pytest
import requests

from relay.replies.parse import MAX_TEXT
from relay.web.app import MAX_BODY, create_app
from relay.web.server import WebServer
from tests.helpers import REPLY_TOKEN, assert_json_error, free_port

AUTH = {"Authorization": f"Bearer {REPLY_TOKEN}"}
UNKNOWN_ISSUE = "issue_00000000000000000000000000dead"


@pytest.fixture
def rt(make_runtime):
    rt = make_runtime(timezone="Asia/Shanghai")
    assert rt.settings.reply_token.get_secret_value() == REPLY_TOKEN
    return rt


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


# -- success ------------------------------------------------------------------------------------

def test_reply_over_a_real_socket_becomes_a_comment(rt, guance, clock):
    uuid = guance.add_issue("disk full", message="/var at 99%")
    clock.advance(3661)  # 2026-01-01 01:01:01 UTC = 09:01:01 in Shanghai
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        resp = requests.post(f"{server.url}/feishu/reply", headers=AUTH, timeout=5,
                             json={"content": f"@relay #{uuid}#restarted the pod, see #42"})
    finally:
        server.stop()
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["issueUUID"] == uuid
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["time"])
    assert body["time"] == "2026-01-01 09:01:01"  # Asia/Shanghai, not UTC
    assert guance.comments(uuid) == ["restarted the pod, see #42"]


def test_time_follows_the_configured_timezone(make_runtime, guance):
    rt = make_runtime(timezone="Europe/London")
    uuid = guance.add_issue("disk full")
    resp = create_app(rt).test_client().post("/feishu/reply", headers=AUTH,
                                              json={"content": f"#{uuid}#ok"})
    assert resp.status_code == 200
    assert resp.get_json()["time"] == "2026-01-01 00:00:00"


@pytest.mark.parametrize("key", ["content", "text"])
def test_json_body_with_content_or_text_key(client, guance, key):
    uuid = guance.add_issue("cpu high")
    resp = client.post("/feishu/reply", headers=AUTH, json={key: f"＃{uuid}＃看过了"})
    assert resp.status_code == 200
    assert resp.get_json()["issueUUID"] == uuid
    assert guance.comments(uuid) == ["看过了"]


@pytest.mark.parametrize("key", ["content", "text"])
def test_form_field_input(client, guance, key):
    uuid = guance.add_issue("cpu high")
    resp = client.post("/feishu/reply", headers=AUTH,
                       data={key: f'<at user_id="ou_x">relay</at> #{uuid}#on it'})
    assert resp.status_code == 200
    assert resp.get_json()["issueUUID"] == uuid
    assert guance.comments(uuid) == ["on it"]


def test_text_at_the_limit_is_posted_whole(client, guance):
    uuid = guance.add_issue("cpu high")
    text = "z" * MAX_TEXT
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{uuid}#{text}"})
    assert resp.status_code == 200
    assert guance.comments(uuid) == [text]


# -- 400 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    "restarted the pod",
    "hello #issue_3f9a1c2b4d5e6f70#text",
    "#issue_short#text",
    "#3f9a1c2b4d5e6f708192a3b4c5d6e7f8#text",
    "#issue_3f9a1c2b4d5e6f70#",
    "#issue_3f9a1c2b4d5e6f70 no second mark",
])
def test_malformed_message_is_400_with_hint(client, guance, message):
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": message})
    body = assert_json_error(resp, 400)
    assert "#" in body["hint"]  # shows the convention
    assert guance.calls == []  # nothing spent on Guance


@pytest.mark.parametrize("kwargs", [
    {"json": {}},
    {"json": {"message": "#issue_3f9a1c2b4d5e6f70#text"}},
    {"json": {"content": 42}},
    {"json": {"content": None}},
    {"json": ["#issue_3f9a1c2b4d5e6f70#text"]},
    {"data": "{not json", "content_type": "application/json"},
    {"data": {"other": "#issue_3f9a1c2b4d5e6f70#text"}},
    {},
])
def test_body_without_content_or_text_is_400(client, guance, kwargs):
    resp = client.post("/feishu/reply", headers=AUTH, **kwargs)
    body = assert_json_error(resp, 400)
    assert body.get("hint")
    assert guance.calls == []


# -- 401 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Bearer {REPLY_TOKEN}x"},
    {"Authorization": f"Bearer {REPLY_TOKEN[:-1]}"},
    {"Authorization": f"Basic {REPLY_TOKEN}"},
    {"X-Token": REPLY_TOKEN},
])
def test_missing_or_wrong_token_is_401(client, guance, headers):
    uuid = guance.add_issue("cpu high")
    resp = client.post("/feishu/reply", headers=headers, json={"content": f"#{uuid}#hi"})
    body = assert_json_error(resp, 401)
    assert REPLY_TOKEN not in resp.get_data(as_text=True)
    assert body.get("hint")
    assert guance.comments(uuid) == []
    assert guance.calls == []


@pytest.mark.parametrize("header", [f"bearer {REPLY_TOKEN}", f"BEARER  {REPLY_TOKEN} ",
                                    REPLY_TOKEN])
def test_token_scheme_is_case_insensitive(client, guance, header):
    uuid = guance.add_issue("cpu high")
    resp = client.post("/feishu/reply", headers={"Authorization": header},
                       json={"content": f"#{uuid}#hi"})
    assert resp.status_code == 200
    assert guance.comments(uuid) == ["hi"]


@pytest.mark.parametrize("configured", [None, "", "   "])
def test_without_a_configured_token_the_route_is_off(make_runtime, guance, configured):
    rt = make_runtime(reply_token=configured)
    uuid = guance.add_issue("cpu high")
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        resp = create_app(rt).test_client().post("/feishu/reply", headers=headers,
                                                 json={"content": f"#{uuid}#hi"})
        assert "RELAY_REPLY_TOKEN is not set" in assert_json_error(resp, 404)["error"]
    assert guance.comments(uuid) == []


# -- 404 ----------------------------------------------------------------------------------------

def test_unknown_issue_is_404(client, guance):
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{UNKNOWN_ISSUE}#hi"})
    body = assert_json_error(resp, 404)
    assert body["issueUUID"] == UNKNOWN_ISSUE


# -- 413 ----------------------------------------------------------------------------------------

def test_body_over_256_kib_is_413(client, guance):
    uuid = guance.add_issue("cpu high")
    content = f"#{uuid}#" + "x" * (MAX_BODY + 1)
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": content})
    assert_json_error(resp, 413)
    assert guance.comments(uuid) == []


def test_form_body_over_256_kib_is_413(client, guance):
    uuid = guance.add_issue("cpu high")
    resp = client.post("/feishu/reply", headers=AUTH,
                       data={"content": f"#{uuid}#" + "x" * (MAX_BODY + 1)})
    assert_json_error(resp, 413)
    assert guance.comments(uuid) == []


def test_text_over_65535_chars_is_413(client, guance):
    uuid = guance.add_issue("cpu high")
    content = f"#{uuid}#" + "x" * (MAX_TEXT + 1)
    assert len(content.encode()) < MAX_BODY  # the body is fine, the comment is not
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": content})
    body = assert_json_error(resp, 413)
    assert str(MAX_TEXT) in body["error"]
    assert guance.comments(uuid) == []
    assert guance.calls == []


# -- 502 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["500", "malformed", "unsuccessful"])
def test_guance_failure_is_502(client, guance, fault):
    uuid = guance.add_issue("cpu high")
    guance.faults.append(fault)
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{uuid}#hi"})
    body = assert_json_error(resp, 502)
    assert body["issueUUID"] == uuid
    assert guance.api_key not in resp.get_data(as_text=True)
    assert guance.comments(uuid) == []


def test_guance_unreachable_is_502(make_runtime, guance):
    rt = make_runtime(guance_base_url=f"http://127.0.0.1:{free_port()}")
    uuid = guance.add_issue("cpu high")
    resp = create_app(rt).test_client().post("/feishu/reply", headers=AUTH,
                                             json={"content": f"#{uuid}#hi"})
    assert_json_error(resp, 502)
    assert guance.api_key not in resp.get_data(as_text=True)


def test_wrong_guance_key_is_502_without_echoing_it(make_runtime, guance):
    rt = make_runtime(guance_api_key="not-the-key-987654")
    uuid = guance.add_issue("cpu high")
    resp = create_app(rt).test_client().post("/feishu/reply", headers=AUTH,
                                             json={"content": f"#{uuid}#hi"})
    assert_json_error(resp, 502)
    assert "not-the-key-987654" not in resp.get_data(as_text=True)
    assert guance.comments(uuid) == []


# -- 503 ----------------------------------------------------------------------------------------

def test_guance_rate_limit_is_503_with_retry_after(client, guance, clock):
    uuid = guance.add_issue("cpu high")
    guance.faults.append("ratelimit")
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{uuid}#hi"})
    assert_json_error(resp, 503)
    wait = int(resp.headers["Retry-After"])
    assert wait > 0
    assert guance.comments(uuid) == []

    # asking again at once is told to wait too, without hammering Guance
    calls = len(guance.calls)
    again = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{uuid}#hi"})
    assert_json_error(again, 503)
    assert int(again.headers["Retry-After"]) > 0
    assert len(guance.calls) == calls and guance.rate_limited == 1

    # after the advertised wait the same reply goes through
    clock.advance(wait)
    done = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{uuid}#hi"})
    assert done.status_code == 200
    assert guance.comments(uuid) == ["hi"]


# -- every answer is JSON -----------------------------------------------------------------------

@pytest.mark.parametrize("method, path, kwargs, status", [
    ("get", "/feishu/reply", {}, 405),
    ("post", "/nowhere", {}, 404),
    ("post", "/feishu/reply", {"json": {"content": "x"}}, 401),
    ("post", "/feishu/reply", {"headers": AUTH, "data": "plain text"}, 400),
    ("post", "/feishu/reply", {"headers": AUTH, "json": {"content": f"#{UNKNOWN_ISSUE}#x"}}, 404),
])
def test_every_error_answer_is_json(client, method, path, kwargs, status):
    resp = getattr(client, method)(path, **kwargs)
    assert_json_error(resp, status)


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"  # more: test_health.py


def test_guance_taking_too_long_is_504_and_says_the_comment_may_have_landed(make_runtime, guance):
    rt = make_runtime(guance_timeout=0.3)
    guance.timeout_seconds = 0.8
    uuid = guance.add_issue("cpu high")
    guance.faults.append("timeout")
    resp = create_app(rt).test_client().post("/feishu/reply", headers=AUTH,
                                             json={"content": f"#{uuid}#hi"})
    assert "may have been posted" in assert_json_error(resp, 504)["error"]
