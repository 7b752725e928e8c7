"""DingTalk replays and forgeries: DingTalk's `sign` covers only the
timestamp, so a captured header pair would pass again with another body for an hour. relay takes
each pair once, on every replica (the database remembers it for that hour, then forgets it), and
checks the callback's `robotCode` against RELAY_DINGTALK_ROBOT_CODE."""

from __future__ import annotations

import sqlalchemy as sa

from relay.web.app import create_app
from tests.helpers import assert_json_error
from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention, said

ROBOT = "dingrelayrobot0001"


def forged(content: str) -> dict:
    return dict(mention(content), senderNick="Mallory")


def used_pairs(rt) -> int:
    with rt.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM used_signatures"))


def test_a_captured_pair_is_refused_with_another_body_on_every_replica(make_runtime, guance,
                                                                       clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET)
    other_replica = make_runtime(dingtalk_app_secret=APP_SECRET)  # the same database
    uuid = guance.add_issue("disk full")
    captured = headers(clock)
    resp = create_app(rt).test_client().post("/dingtalk/reply", headers=captured,
                                             json=mention(f"#{uuid}#genuine"))
    assert said(resp).startswith("Posted")
    clock.advance(30 * 60)  # half an hour later: the timestamp alone would still pass
    for replica in (rt, other_replica):
        resp = create_app(replica).test_client().post(
            "/dingtalk/reply", headers=captured, json=forged(f"#{uuid}#FORGED by replay"))
        assert "used before" in assert_json_error(resp, 401)["error"]
    assert guance.comments(uuid) == ["genuine"]
    fresh = create_app(other_replica).test_client().post(  # the next real message still works
        "/dingtalk/reply", headers=headers(clock), json=mention(f"#{uuid}#next"))
    assert said(fresh).startswith("Posted") and guance.comments(uuid) == ["genuine", "next"]


def test_a_used_pair_is_forgotten_once_its_hour_is_over(make_runtime, guance, clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET)
    client = create_app(rt).test_client()
    captured = headers(clock)
    client.post("/dingtalk/reply", headers=captured, json=mention("no uuid"))
    assert used_pairs(rt) == 1
    clock.advance(3601)
    resp = client.post("/dingtalk/reply", headers=captured, json=forged("#x#again"))
    assert "more than an hour" in assert_json_error(resp, 401)["error"]  # refused by its age
    client.post("/dingtalk/reply", headers=headers(clock), json=mention("another"))
    assert used_pairs(rt) == 1  # the old pair was pruned when the new one was kept


def test_a_callback_for_another_robot_is_refused(make_runtime, guance, clock):
    client = create_app(make_runtime(dingtalk_app_secret=APP_SECRET,
                                     dingtalk_robot_code=ROBOT)).test_client()
    uuid = guance.add_issue("disk full")
    for robot in ("dingsomeotherrobot", None):
        body = mention(f"#{uuid}#not for us")
        if robot:
            body["robotCode"] = robot
        resp = client.post("/dingtalk/reply", headers=headers(clock), json=body)
        assert "robotCode" in assert_json_error(resp, 403)["error"]
    assert guance.comments(uuid) == []
    resp = client.post("/dingtalk/reply", headers=headers(clock),
                       json=dict(mention(f"#{uuid}#ours"), robotCode=ROBOT))
    assert said(resp).startswith("Posted") and guance.comments(uuid) == ["ours"]


def test_replays_are_refused_across_replicas_on_postgres(make_runtime, postgres_url, guance,
                                                         clock):
    replicas = [make_runtime(dingtalk_app_secret=APP_SECRET, database_url=postgres_url)
                for _ in range(2)]
    uuid = guance.add_issue("disk full")
    captured = headers(clock)
    answers = [create_app(rt).test_client().post("/dingtalk/reply", headers=captured,
                                                 json=mention(f"#{uuid}#once"))
               for rt in replicas]
    assert said(answers[0]).startswith("Posted")
    assert_json_error(answers[1], 401)
    assert guance.comments(uuid) == ["once"]
