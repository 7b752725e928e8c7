"""Issue actions by text command on the reply routes (`/feishu/reply`, `/dingtalk/reply`):
each reaches Guance's `issue/{uuid}/modify` once with the right statusType, then a comment
naming who acted; the fake Guance refuses what its modify page does not document (15, 25)."""

from __future__ import annotations

import pytest

from relay.i18n import text_for
from relay.replies.actions import origin_in_chat, origin_of_link, parse_command
from relay.web.app import create_app
from tests.helpers import EN, REPLY_TOKEN
from tests.platforms.test_dingtalk_reply import APP_SECRET, CONVERSATION, headers, mention, said
from tests.robots import new_issues


@pytest.fixture
def rt(make_runtime):
    # the DingTalk group of the callbacks stands for `default`, the destination cards go to
    return make_runtime(dingtalk_app_secret=APP_SECRET,
                        dingtalk_conversations={CONVERSATION: "default"})


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def flow(client, text: str, sender: str | None = None):
    body = {"content": text} if sender is None else {"content": text, "sender": sender}
    return client.post("/feishu/reply", json=body,
                       headers={"Authorization": f"Bearer {REPLY_TOKEN}"})


def ding(client, clock, text: str):
    return client.post("/dingtalk/reply", json=mention(text), headers=headers(clock))


def statuses(guance, uuid: str) -> list:
    return [body.get("statusType") for issue, body in guance.modifications if issue == uuid]


# -- the command syntax ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, action, note", [
    ("/resolve rolled back", "resolve", "rolled back"), ("/Resolve", "resolve", ""),
    ("／解决 已回滚", "resolve", "已回滚"), ("/解决已回滚", "resolve", "已回滚"),
    ("/claim", "claim", ""), ("/认领", "claim", ""), ("/close: dup", "close", "dup"),
    ("/关闭", "close", ""), ("/reopen again", "reopen", "again"), ("/重开", "reopen", ""),
    ("  /resolve\nline two", "resolve", "line two"), ("/mute 2h", "mute", "2h"),
    ("/静音 30m", "mute", "30m")])
def test_commands_and_their_chinese_aliases(text, action, note):
    command = parse_command(text)
    assert command is not None and command.action.name == action and command.note == note


@pytest.mark.parametrize("text", ["resolved it", "/resolved", "/resolver x", "解决了",
                                  "please /resolve", "/muted", "# /resolve"])
def test_other_texts_are_plain_comments(text):
    assert parse_command(text) is None


# -- the Guance client and the fake ----------------------------------------------------------------

def test_modify_sends_status_and_the_required_extend(rt, guance):
    uuid = guance.add_issue("disk full")
    rt.guance.modify_issue(uuid, 20)
    rt.guance.modify_issue(uuid, None, ["acnt_1"])
    assert guance.modifications == [(uuid, {"statusType": 20, "extend": {}}),
                                    (uuid, {"extend": {"manager": ["acnt_1"]}})]
    assert guance.issue(uuid)["statusType"] == 20
    assert guance.issue(uuid)["extend"]["manager"] == ["acnt_1"]


# -- /feishu/reply ------------------------------------------------------------------------------

@pytest.mark.parametrize("command, status, done", [
    ("/resolve", 20, "Resolved"), ("/reopen", 10, "Reopened"), ("/解决", 20, "Resolved")])
def test_flow_command_modifies_once_and_comments(client, guance, command, status, done):
    uuid = guance.add_issue("disk full")
    resp = flow(client, f"@relay #{uuid}#{command} restarted the pod", sender="Alice")
    assert resp.status_code == 200, resp.get_json()
    assert statuses(guance, uuid) == [status]
    assert guance.issue(uuid)["statusType"] == status
    assert guance.comments(uuid) == [f"{done} from Feishu by Alice\n\nrestarted the pod"]
    assert resp.get_json()["said"].startswith(f"{done} {uuid}")


def test_plain_text_is_still_a_plain_comment(client, guance):
    uuid = guance.add_issue("disk full")
    resp = flow(client, f"#{uuid}#resolved it by restarting")
    assert resp.status_code == 200
    assert guance.modifications == []
    assert guance.comments(uuid) == ["resolved it by restarting"]


def test_claim_falls_back_when_guance_refuses_working(client, guance):
    uuid = guance.add_issue("disk full")
    resp = flow(client, f"#{uuid}#/claim on it", sender="Bob")
    assert resp.status_code == 200
    assert guance.modifications == []  # 15 refused, and no account to make manager
    assert guance.issue(uuid)["statusType"] == 10
    assert guance.comments(uuid) == ["Claimed from Feishu by Bob\n\non it"]
    assert "does not take the status Working" in resp.get_json()["said"]


def test_claim_sets_working_where_guance_takes_it(client, guance):
    guance.status_types = (10, 15, 20, 25, 30)
    uuid = guance.add_issue("disk full")
    resp = flow(client, f"#{uuid}#/claim")
    assert statuses(guance, uuid) == [15]
    assert "status is now Working" in resp.get_json()["said"]


def test_close_falls_back_to_resolved(client, guance):
    uuid = guance.add_issue("disk full")
    resp = flow(client, f"#{uuid}#/close")
    assert statuses(guance, uuid) == [20]  # the refused 25 is not recorded by the fake
    assert guance.issue(uuid)["statusType"] == 20
    assert "does not take the status Closed" in resp.get_json()["said"]


def test_rate_limited_action_is_told_and_not_applied_later(client, guance, rt):
    uuid = guance.add_issue("disk full")
    guance.faults.append("ratelimit")
    resp = flow(client, f"#{uuid}#/resolve")
    assert resp.status_code == 503 and "busy" in resp.get_json()["said"]
    assert guance.modifications == [] and guance.comments(uuid) == []
    assert b'relay_issue_actions_total{action="resolve",outcome="busy",route="feishu_flow"} 1.0' \
        in client.get("/metrics").data


def test_unknown_issue_is_told(client):
    resp = flow(client, "#issue_00000000000000000000000000dead#/resolve")
    assert resp.status_code == 404 and "no issue" in resp.get_json()["said"]


# -- /dingtalk/reply ----------------------------------------------------------------------------

@pytest.mark.parametrize("command, status, done", [("/resolve", 20, "Resolved"),
                                                   ("/重开", 10, "Reopened")])
def test_dingtalk_command_modifies_once_and_answers_what_changed(rt, client, guance, clock,
                                                                  command, status, done):
    [uuid] = new_issues(rt, guance, clock, "disk full")  # its card went to the group's destination
    resp = ding(client, clock, f"#{uuid}#{command} fixed")
    assert said(resp) == f"{done} {uuid}: status is now {'Resolved' if status == 20 else 'Open'}."
    assert statuses(guance, uuid) == [status]
    assert guance.comments(uuid) == [f"{done} from DingTalk by Alice\n\nfixed"]


# -- merged with languages and the hardening (issues 12, 14) --------------------------------------

def test_an_action_speaks_relay_language(make_runtime, guance):
    client = create_app(make_runtime(language="zh-CN")).test_client()
    uuid = guance.add_issue("disk full")
    resp = flow(client, f"#{uuid}#/resolve 已回滚", sender="王芳")
    assert resp.status_code == 200
    assert resp.get_json()["said"] == f"已解决 {uuid}：状态现在是已解决。"
    assert guance.comments(uuid) == ["已解决，来自飞书，操作人 王芳\n\n已回滚"]
    refused = flow(client, f"#{uuid}#/mute forever")
    assert refused.status_code == 400 and refused.get_json()["said"].startswith("未静音")


def test_the_comment_names_the_platform_as_its_users_do():
    zh = text_for("zh-CN")
    assert origin_of_link(zh, "DingTalk", "王芳") == "钉钉链接，操作人 王芳"
    assert origin_in_chat(zh, "WeCom", "") == "企业微信，操作人 某人"
    assert origin_of_link(EN, "WeCom") == "WeCom link"


def test_an_action_waits_in_one_of_the_reply_slots(make_runtime, guance):
    """A command waits on Guance in a web thread like a reply: none left is 503 at once."""
    rt = make_runtime(replies_in_flight=1)
    client = create_app(rt).test_client()
    uuid = guance.add_issue("disk full")
    assert rt.reply_slots.acquire(blocking=False)  # a reply is waiting on Guance
    try:
        resp = flow(client, f"#{uuid}#/resolve")
    finally:
        rt.reply_slots.release()
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert resp.get_json()["error"].startswith("1 replies are already waiting on Guance")
    assert guance.modifications == [] and guance.comments(uuid) == []
    assert flow(client, f"#{uuid}#/resolve").status_code == 200  # the slot is free again
