"""The DingTalk app robot against the fake DingTalk (gateway, Stream WebSocket, OpenAPI): cards
created in its group, @-messages and card buttons over Stream reaching Guance once, redelivered
frames acting once (also after a restart), cards updated in place, the token renewed, and the
connection coming back by itself."""

from __future__ import annotations

import json

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.platforms.dingtalk_app.openapi import RENEW_MARGIN_SECONDS
from relay.platforms.dingtalk_app.stream import BOT_MESSAGE_TOPIC, CARD_CALLBACK_TOPIC
from relay.sandbox.dingtalk_app import FakeDingTalkApp, bot_message, card_click, wait_until
from relay.web.app import create_app
from relay.platforms.dingtalk_app.state import dingtalk_app_state
from tests.helpers import served

GROUP = "cidOpsGroup0000000001=="
TEMPLATE = "relay-alert.schema"


@pytest.fixture
def dingtalk(clock):
    yield from served(FakeDingTalkApp(clock=clock))


@pytest.fixture
def make_dt(make_runtime, dingtalk):
    def make(**overrides):
        values = dict(dingtalk_app_key=dingtalk.app_key, dingtalk_app_secret=dingtalk.app_secret,
                      dingtalk_app_groups={"ops-dt": GROUP}, dingtalk_card_template=TEMPLATE,
                      dingtalk_open_base_url=dingtalk.url, routes={"default": ["ops-dt"]})
        values.update(overrides)
        return make_runtime(**values)

    return make


@pytest.fixture
def rt(make_dt):
    return make_dt()


def serving(rt, dingtalk, connections: int = 1):
    """The serving process's start (the Stream connection opens), connected to the fake."""
    create_app(rt)
    assert dingtalk.wait_connected(connections)
    return rt


def send_card(rt, dingtalk, guance, clock, title="Disk full on db-1") -> tuple[str, str]:
    """An issue relayed as a card into GROUP: (its uuid, the card's outTrackId)."""
    poll(rt)
    clock.advance(30)
    issue = guance.add_issue(title, message="/var at 99%")
    clock.advance(30)
    poll(rt)
    assert deliver(rt).sent == 1
    (card,) = [t for t, c in dingtalk.cards.items() if c["params"]["issue"] == issue]
    return issue, card


def test_a_new_issue_is_an_interactive_card_in_the_group(rt, dingtalk, guance, clock):
    issue, track = send_card(rt, dingtalk, guance, clock)
    card = dingtalk.cards[track]
    assert card["conversation"] == GROUP and card["template"] == TEMPLATE
    assert card["callbackType"] == "STREAM" and card["robotCode"] == dingtalk.app_key
    params = card["params"]
    assert params["issue"] == issue and params["title"] == "[P2] Disk full on db-1"
    assert params["message"] == "/var at 99%" and params["status"] == "Open"
    assert issue in params["link"]


def test_an_at_message_over_stream_becomes_one_comment_and_an_answer(rt, dingtalk, guance, clock):
    issue, _ = send_card(rt, dingtalk, guance, clock)
    serving(rt, dingtalk)
    message_id = dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(
        GROUP, f"#{issue}#restarted the writer", dingtalk.app_key))
    assert dingtalk.wait_acked(message_id)
    assert dingtalk.acks[message_id][0]["code"] == 200
    assert wait_until(lambda: dingtalk.texts_in(GROUP))
    (comment,) = guance.comments(issue)
    assert comment.startswith("restarted the writer")
    assert dingtalk.texts_in(GROUP) == [f"Posted as a comment on {issue} "
                                        f"({dingtalk.texts_in(GROUP)[0].split('(')[1]}"]


def test_a_command_in_chinese_acts_through_the_reply_handlers(rt, dingtalk, guance, clock):
    issue, _ = send_card(rt, dingtalk, guance, clock)
    serving(rt, dingtalk)
    dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#/解决 扩容完成",
                                                 dingtalk.app_key))
    assert wait_until(lambda: dingtalk.texts_in(GROUP))
    assert [body.get("statusType") for uuid, body in guance.modifications
            if uuid == issue] == [20]


def test_a_redelivered_message_acts_once_also_after_a_restart(make_dt, dingtalk, guance, clock):
    first = make_dt()
    issue, _ = send_card(first, dingtalk, guance, clock)
    serving(first, dingtalk)
    message_id = dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#once",
                                                              dingtalk.app_key))
    assert wait_until(lambda: dingtalk.texts_in(GROUP))
    dingtalk.push_again(message_id)  # as if the ack had been lost
    assert dingtalk.wait_acked(message_id, 2)
    first.close()
    second = serving(make_dt(), dingtalk, connections=2)  # a restarted relay, same database
    dingtalk.push_again(message_id)
    assert dingtalk.wait_acked(message_id, 3)
    dingtalk_app_state(second).stream.worker.run_due()
    assert guance.comments(issue) == [guance.comments(issue)[0]]
    assert len(dingtalk.texts_in(GROUP)) == 1


def test_a_card_button_over_stream_acts_once_and_the_card_follows(rt, dingtalk, guance, clock):
    issue, track = send_card(rt, dingtalk, guance, clock)
    serving(rt, dingtalk)
    message_id = dingtalk.push(CARD_CALLBACK_TOPIC, card_click(track, "resolve"))
    assert dingtalk.wait_acked(message_id)
    assert wait_until(lambda: dingtalk.texts_in(GROUP))
    dingtalk.push_again(message_id)
    assert dingtalk.wait_acked(message_id, 2)
    dingtalk_app_state(rt).stream.worker.run_due()
    assert [body.get("statusType") for uuid, body in guance.modifications
            if uuid == issue] == [20]
    (comment,) = guance.comments(issue)
    assert "DingTalk" in comment and "manager4220" in comment
    (said,) = dingtalk.texts_in(GROUP)
    assert issue in said
    deliver(rt)  # the state change, through the outbox: the card updated in place, no new line
    assert dingtalk.cards[track]["params"]["status"] == "Resolved"
    assert "manager4220" in dingtalk.cards[track]["params"]["status_line"]
    assert dingtalk.texts_in(GROUP) == [said]


def test_a_refused_update_falls_back_to_a_line_in_the_group(rt, dingtalk, guance, clock):
    issue, track = send_card(rt, dingtalk, guance, clock)
    dingtalk.refuse_updates = True
    guance.set_status(issue, 20, by="Li Lei")
    from relay.pipeline.track_issues import track_issues

    clock.advance(60)
    track_issues(rt)
    deliver(rt)
    assert dingtalk.cards[track]["params"]["status"] == "Open"
    (line,) = dingtalk.texts_in(GROUP)
    assert "Resolved" in line and "Li Lei" in line


def test_a_state_change_made_in_guance_updates_the_card(rt, dingtalk, guance, clock):
    issue, track = send_card(rt, dingtalk, guance, clock)
    guance.set_status(issue, 15, by="Wang Fang")
    from relay.pipeline.track_issues import track_issues

    clock.advance(60)
    track_issues(rt)
    deliver(rt)
    params = dingtalk.cards[track]["params"]
    assert params["status"] == "Working" and "Wang Fang" in params["status_line"]
    assert params["title"].startswith("[Working]")


def test_the_access_token_is_renewed_before_it_expires(rt, dingtalk, guance, clock):
    send_card(rt, dingtalk, guance, clock)
    assert dingtalk.token_requests == 1
    clock.advance(dingtalk.token_expire - RENEW_MARGIN_SECONDS - 1)
    assert dingtalk_app_state(rt).app.send_text(GROUP, "still the same token").ok
    assert dingtalk.token_requests == 1
    clock.advance(2)
    assert dingtalk_app_state(rt).app.send_text(GROUP, "a renewed token").ok
    assert dingtalk.token_requests == 2


def test_a_token_refused_with_401_is_renewed_once(rt, dingtalk):
    assert dingtalk_app_state(rt).app.send_text(GROUP, "first").ok
    dingtalk._tokens.clear()  # DingTalk forgot the token (revoked, or a clock off)
    assert dingtalk_app_state(rt).app.send_text(GROUP, "second").ok
    assert dingtalk.token_requests == 2 and dingtalk.texts_in(GROUP) == ["first", "second"]


def test_a_wrong_secret_says_so_with_the_setting_names(make_dt, dingtalk):
    rt = make_dt(dingtalk_app_secret="wrong")
    result = dingtalk_app_state(rt).app.send_text(GROUP, "x")
    assert not result.ok and "RELAY_DINGTALK_APP_SECRET" in result.error
    assert "invalidClientIdOrSecret" in result.error and "wrong" not in result.error


def test_the_ping_is_answered_and_a_disconnect_opens_a_new_connection(rt, dingtalk):
    serving(rt, dingtalk)
    ping = dingtalk.system("ping", {"opaque": "42"})
    assert dingtalk.wait_acked(ping)
    assert json.loads(dingtalk.acks[ping][0]["data"]) == {"opaque": "42"}
    dingtalk.system("disconnect")
    assert dingtalk.wait_connected(2)
    assert len(dingtalk.gateway_requests) == 2


def test_a_dropped_connection_comes_back_and_frames_flow_again(rt, dingtalk, guance, clock):
    issue, _ = send_card(rt, dingtalk, guance, clock)
    serving(rt, dingtalk)
    dingtalk.drop()
    assert dingtalk.wait_connected(2, timeout=60)
    dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#after the drop",
                                                 dingtalk.app_key))
    assert wait_until(lambda: guance.comments(issue))
    assert dingtalk_app_state(rt).stream.connection.reconnects >= 1


def test_an_unreadable_frame_is_skipped_and_the_connection_stays(rt, dingtalk, guance, clock):
    issue, _ = send_card(rt, dingtalk, guance, clock)
    serving(rt, dingtalk)
    dingtalk.open_connections()[-1].send("not json {")
    odd = dingtalk.push("/v1.0/unknown/topic", {"a": 1})
    assert dingtalk.wait_acked(odd) and dingtalk.acks[odd][0]["code"] == 404
    dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#still here",
                                                 dingtalk.app_key))
    assert wait_until(lambda: guance.comments(issue))
    assert len(dingtalk.connections) == 1


def test_a_message_from_a_group_relay_does_not_serve_is_not_acted_on(rt, dingtalk, guance,
                                                                      clock):
    issue, _ = send_card(rt, dingtalk, guance, clock)
    serving(rt, dingtalk)
    message_id = dingtalk.push(BOT_MESSAGE_TOPIC, bot_message("cidElsewhere==", f"#{issue}#x",
                                                              dingtalk.app_key))
    assert dingtalk.wait_acked(message_id)
    dingtalk_app_state(rt).stream.worker.run_due()
    assert guance.comments(issue) == [] and dingtalk.group_messages == []


def test_a_group_of_relay_acts_only_on_issues_carded_to_it(make_dt, dingtalk, guance, clock):
    """Issue 22.3: the Stream message names its group (conversationId); both groups are relay's,
    the card went to GROUP only, so the other group is told why and nothing changes."""
    other = "cidHrGroup0000000002=="
    rt = make_dt(dingtalk_app_groups={"ops-dt": GROUP, "hr-dt": other})
    issue, _ = send_card(rt, dingtalk, guance, clock)
    serving(rt, dingtalk)
    dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(other, f"#{issue}#/resolve", dingtalk.app_key))
    assert wait_until(lambda: dingtalk.texts_in(other))
    (answer,) = dingtalk.texts_in(other)
    assert answer.startswith("Not done") and "RELAY_DINGTALK_APP_GROUPS" in answer
    assert guance.modifications == []
    dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#/resolve", dingtalk.app_key))
    assert wait_until(lambda: dingtalk.texts_in(GROUP))
    assert [uuid for uuid, _ in guance.modifications] == [issue]
