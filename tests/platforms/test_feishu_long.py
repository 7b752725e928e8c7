"""The Feishu app bot over its long connection (RELAY_FEISHU_EVENTS=long), relay against the fake
long connection (relay/sandbox/feishu_long.py), which reads and writes lark-oapi's own protobuf
Frame here: relay makes the endpoint call and opens the WebSocket itself (no port served, no
Verification Token or Encrypt Key); a thread reply and a button click arriving over it reach
Guance once through the handlers /feishu/events uses, each answered by the SDK's response frame
(the click's with its toast); a redelivered event acts once, also after a restart; an event in
parts is put back together; a malformed frame is skipped and the connection kept; a dropped
connection comes back by itself."""

from __future__ import annotations

import time

import pytest

from relay.platforms.feishu.state import feishu_state
from relay.platforms.feishu.longconn import FeishuLink
from relay.sandbox.feishu_app import click_event, message_event
from relay.web.app import create_app
from tests.appbot import CHAT, ENGINEER, send_card, wait_for
from tests.platforms.test_feishu_long_sdk import LarkCodec

pytest.importorskip("lark_oapi.ws.pb.pbbp2_pb2")


@pytest.fixture
def long(open_api):
    fake = open_api.listen(LarkCodec(), ping_interval=1, reconnect_nonce=0)
    yield fake
    fake.stop()


@pytest.fixture
def long_rt(make_runtime, open_api, long):
    """A serving runtime in long mode (its connection opened as `relay run` opens it)."""

    def make(**overrides):
        values = dict(feishu_app_id=open_api.app_id, feishu_app_secret=open_api.app_secret,
                      feishu_events="long", feishu_open_base_url=open_api.url,
                      feishu_app_chats={"ops-chat": CHAT}, routes={"default": ["ops-chat"]})
        values.update(overrides)
        rt = make_runtime(**values)
        rt.web = create_app(rt)
        return rt

    return make


def reply(open_api, text: str, root_id: str) -> dict:
    return message_event("", CHAT, text, root_id=root_id, mention_bot=open_api.bot_open_id)


def statuses(guance, uuid: str) -> list:
    return [body.get("statusType") for issue, body in guance.modifications if issue == uuid]


def test_a_thread_reply_over_the_long_connection_becomes_one_comment(long_rt, open_api, long,
                                                                      guance, clock):
    rt = long_rt()
    assert long.wait_connected(1)
    assert long.endpoint_requests == [{"AppID": open_api.app_id}]  # the secret: not recorded
    issue, card_id = send_card(rt, guance, clock)
    event = reply(open_api, "restarted the disk cleaner", card_id)
    said = long.push(event, parts=3)  # a big event comes in parts
    assert long.wait_answered(said)
    assert long.answer(said) == {"code": 200}
    assert long.responses[said][-1].header("biz_rt") is not None
    wait_for(lambda: guance.comments(issue))
    (answer,) = wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]
                                                           ["message_id"]))
    assert guance.comments(issue)[0].startswith("restarted the disk cleaner")
    assert issue in answer
    # /feishu/events is not served in this mode; /healthz shows the connection
    client = rt.web.test_client()
    resp = client.post("/feishu/events", json=event)
    assert resp.status_code == 404 and "long connection" in resp.get_json()["error"]
    feishu = client.get("/healthz").get_json()["connections"]["feishu"]
    assert feishu["state"] == "connected" and feishu["ok"] and feishu["last_error"] is None


def test_a_button_click_is_answered_with_its_toast_in_the_response_frame(long_rt, open_api, long,
                                                                         guance, clock):
    rt = long_rt()
    assert long.wait_connected(1)
    issue, card_id = send_card(rt, guance, clock)
    said = long.push(click_event("", CHAT, card_id, {"relay_action": "resolve", "issue": issue}))
    assert long.wait_answered(said)
    answer = long.answer(said)
    assert answer["code"] == 200 and answer["data"]["toast"]["type"] == "info"
    assert "working on it" in answer["data"]["toast"]["content"]
    wait_for(lambda: open_api.texts_replying_to(card_id))
    assert statuses(guance, issue) == [20]
    assert guance.comments(issue) == [f"Resolved from Feishu by {ENGINEER}"]


def test_a_redelivered_event_acts_once_also_after_a_restart(long_rt, open_api, long, guance,
                                                            clock):
    rt = long_rt()
    assert long.wait_connected(1)
    issue, card_id = send_card(rt, guance, clock)
    event = reply(open_api, "looking into it", card_id)
    said = long.push(event)
    long.push_again(said)  # as if Feishu had missed the answer
    assert long.wait_answered(said, 2)
    wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]["message_id"]))
    rt.close()  # a restart (or another replica on the same database)
    long_rt()
    assert long.wait_connected(2)
    again = long.push(event)
    assert long.wait_answered(again)
    assert long.answer(again) == {"code": 200}
    time.sleep(0.3)  # room for a wrong second comment to show
    assert len(guance.comments(issue)) == 1


def test_a_redelivered_event_acts_once_across_replicas(long_rt, open_api, long, guance, clock,
                                                       database_url):
    """Feishu pushes each event to one of the app's connections at random: the redelivery may
    reach another replica's, which shares the database (SQLite here, then PostgreSQL)."""
    first = long_rt(database_url=database_url)
    assert long.wait_connected(1)
    second = long_rt(database_url=database_url)
    assert long.wait_connected(2) and len(long.open_connections()) == 2
    issue, card_id = send_card(first, guance, clock)
    event = reply(open_api, "one comment only", card_id)
    said = long.push(event, to=0)
    long.push_again(said, to=1)  # the answer was late: Feishu tries the other connection
    assert long.wait_answered(said, 2)
    assert [long.answer(said)["code"]] == [200]
    wait_for(lambda: open_api.texts_replying_to(event["event"]["message"]["message_id"]))
    for rt in (first, second):
        feishu_state(rt).worker.run_due()
    assert len(guance.comments(issue)) == 1
    counts = [rt.metrics.connection_events.labels("feishu", kind)._value.get()
              for rt in (first, second) for kind in ("received", "redelivered")]
    assert sorted(counts) == [0, 0, 1, 1]  # one replica took it, the other saw it again


def test_a_click_is_answered_within_feishus_3_s_while_guance_hangs(long_rt, open_api, long,
                                                                   guance, clock):
    rt = long_rt()
    assert long.wait_connected(1)
    issue, card_id = send_card(rt, guance, clock)
    guance.faults.append("hold")  # Guance answers only when released
    started = time.monotonic()
    said = long.push(click_event("", CHAT, card_id, {"relay_action": "close", "issue": issue}))
    assert long.wait_answered(said, timeout=3)
    assert time.monotonic() - started < 3 and long.answer(said)["code"] == 200
    assert statuses(guance, issue) == []
    guance.release.set()
    wait_for(lambda: statuses(guance, issue) == [20])


def test_a_malformed_frame_is_skipped_and_the_connection_kept(long_rt, open_api, long, guance,
                                                              clock, caplog):
    rt = long_rt()
    assert long.wait_connected(1)
    issue, card_id = send_card(rt, guance, clock)
    for garbage in (b"\x08\xff", b"\x08\xff", b"\xff" * 40, b"\x08\xff"):
        long.send_raw(garbage)
    said = long.push(reply(open_api, "still here", card_id))
    assert long.wait_answered(said)
    wait_for(lambda: guance.comments(issue))
    assert len(long.connections) == 1
    logged = [r.getMessage() for r in caplog.records if "unreadable frame" in r.getMessage()]
    assert len(logged) == 1  # one reason (a broken varint), logged once


def test_a_dropped_connection_comes_back_by_itself(long_rt, open_api, long, guance, clock):
    rt = long_rt()
    assert long.wait_connected(1)
    issue, card_id = send_card(rt, guance, clock)
    long.drop()
    started = time.monotonic()
    assert long.wait_connected(2, timeout=20)
    assert time.monotonic() - started < 5  # ReconnectNonce 0 here: no extra jitter asked for
    said = long.push(reply(open_api, "after the drop", card_id))
    assert long.wait_answered(said)
    wait_for(lambda: guance.comments(issue))


def test_a_half_open_connection_is_replaced_within_three_ping_intervals(long_rt, open_api, long,
                                                                        guance, clock):
    long_rt()
    assert long.wait_connected(1)
    long.half_open()  # open, but nothing passes: only relay's pong watchdog can tell
    started = time.monotonic()
    assert long.wait_connected(2, timeout=10)
    assert time.monotonic() - started <= 3 * 1 + 1  # PingInterval is 1 s here


def test_relay_pings_with_the_service_id_and_takes_a_new_ping_interval(long_rt, open_api, long):
    rt = long_rt()
    assert long.wait_connected(1)
    long.pong_config = {"PingInterval": 2, "ReconnectNonce": 0}
    wait_for(lambda: long.pings >= 2, 10)
    (connection,) = rt.connections
    link = connection.link
    wait_for(lambda: link.client_config.get("PingInterval") == 2, 10)


def test_too_many_connections_is_reported_in_feishus_words(long_rt, long):
    long.max_connections = 1
    long_rt()
    assert long.wait_connected(1)
    second = long_rt()
    (connection,) = second.connections
    wait_for(lambda: connection.last_error)
    assert connection.last_error == ("websocket: too many connections for this app (Feishu "
                                     "allows 50): exceed connection limit")
    assert len(long.connections) == 1


def test_a_wrong_secret_is_reported_as_auth_in_feishus_words(make_runtime, open_api, long):
    rt = make_runtime(feishu_app_id=open_api.app_id, feishu_app_secret="wrong",
                      feishu_events="long", feishu_open_base_url=open_api.url)
    create_app(rt)
    (connection,) = rt.connections
    wait_for(lambda: connection.last_error)
    assert connection.last_error.startswith("auth: Feishu code 10003")
    assert "wrong" not in connection.last_error and long.connections == []


def test_the_link_reads_the_endpoint_and_answers_frames_without_a_connection(make_runtime,
                                                                             open_api, long):
    """open() and on_frame() directly: what the layer is handed."""
    from relay.platforms.feishu import frames

    rt = make_runtime(feishu_app_id=open_api.app_id, feishu_app_secret=open_api.app_secret,
                      feishu_events="long", feishu_open_base_url=open_api.url)
    link = FeishuLink(rt)
    endpoint = link.open(time.monotonic() + 5)
    assert endpoint.url.startswith(long.ws_url) and endpoint.ping_seconds == 1
    assert frames.decode(link.ping_frame()).service == 33554678
    assert link.on_frame("text").skipped and link.on_frame(b"\x0b").skipped
    pong = frames.encode(frames.Frame(method=0, headers=(("type", "pong"),),
                                      payload=b'{"PingInterval": 7}'))
    assert link.on_frame(pong).endpoint.ping_seconds == 7


def test_long_mode_without_the_app_credentials_is_a_clear_error(make_runtime):
    from relay.errors import ConfigError

    with pytest.raises(ConfigError, match=r"RELAY_FEISHU_APP_ID is not set \(RELAY_FEISHU_EVENTS="
                                          r"long needs the Feishu app bot\)"):
        make_runtime(feishu_events="long")
