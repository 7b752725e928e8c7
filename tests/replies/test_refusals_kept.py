"""A flood of malformed replies from a token holder: every one is counted in
the metrics, but the reply log keeps at most 3 refusals per sender in 10 minutes (a refusal that
cost no Guance call: malformed, too long, no budget). Posted comments are always kept."""

from __future__ import annotations

from relay.store import replylog
from relay.web.app import create_app
from tests.helpers import REPLY_TOKEN
from tests.platforms.test_dingtalk_reply import APP_SECRET, headers, mention

BEARER = {"Authorization": f"Bearer {REPLY_TOKEN}"}


def logged(rt) -> list[tuple[int, str | None]]:
    return [(r.http_status, r.text) for r in reversed(replylog.recent(rt.engine, limit=1000))]


def metric(client, line: str) -> str:
    return next(m for m in client.get("/metrics").get_data(as_text=True).splitlines()
                if m.startswith(line))


def test_a_flood_of_malformed_replies_is_counted_not_stored(make_runtime, guance, clock):
    rt = make_runtime()
    client = create_app(rt).test_client()
    for n in range(200):
        assert client.post("/feishu/reply", headers=BEARER,
                           json={"content": f"garbage {n}"}).status_code == 400
    assert logged(rt) == [(400, "garbage 0"), (400, "garbage 1"), (400, "garbage 2")]
    assert metric(client, 'relay_reply_requests_total{outcome="bad_request"}') \
        .endswith(" 200.0")
    assert metric(client, "relay_replies_unlogged_total").endswith(" 197.0")
    uuid = guance.add_issue("disk full")  # a good reply in the flood is still kept
    assert client.post("/feishu/reply", headers=BEARER,
                       json={"content": f"#{uuid}#fine"}).status_code == 200
    assert logged(rt)[-1] == (200, "fine")
    clock.advance(601)  # a new window: the next refusals are kept again
    client.post("/feishu/reply", headers=BEARER, json={"content": "later"})
    assert logged(rt)[-1] == (400, "later")


def test_the_cap_is_per_sender(make_runtime, clock):
    rt = make_runtime(dingtalk_app_secret=APP_SECRET)
    client = create_app(rt).test_client()
    for n in range(10):
        client.post("/dingtalk/reply", headers=headers(clock),
                    json=dict(mention(f"spam {n}"), senderStaffId="mallory"))
    client.post("/dingtalk/reply", headers=headers(clock),
                json=dict(mention("typo"), senderStaffId="alice"))
    client.post("/feishu/reply", headers=BEARER, json={"content": "flow typo"})
    assert [text for _, text in logged(rt)] == ["spam 0", "spam 1", "spam 2", "typo",
                                                "flow typo"]
    assert [r.sender for r in reversed(replylog.recent(rt.engine))] == [
        "dingtalk:mallory"] * 3 + ["dingtalk:alice", "feishu-flow"]
