"""Budget floors: replies and polling share Guance's 20 calls a minute, and neither can take the
other's floor (RELAY_GUANCE_POLL_RESERVE, RELAY_GUANCE_REPLY_RESERVE; 4 each by default)."""

from __future__ import annotations

from relay.pipeline.poll import poll
from relay.web.app import create_app
from tests.helpers import REPLY_TOKEN, assert_json_error, outbox

AUTH = {"Authorization": f"Bearer {REPLY_TOKEN}"}


def flood(client, issue: str, limit: int = 30) -> list:
    """Valid replies until Guance's budget refuses one (or `limit` of them)."""
    answers = []
    for n in range(limit):
        answers.append(client.post("/feishu/reply", headers=AUTH,
                                   json={"content": f"#{issue}#looking {n}"}))
        if answers[-1].status_code != 200:
            break
    return answers


def test_a_flood_of_replies_cannot_take_pollings_floor(make_runtime, guance, feishu, clock):
    guance.calls_per_minute = 20  # Guance's per-key limit, enforced by the fake
    rt = make_runtime()
    poll(rt)  # one call: the channel list
    clock.advance(5)
    issue = guance.add_issue("cpu high")
    client = create_app(rt).test_client()
    answers = flood(client, issue)
    report = poll(rt)  # the next minute's poll, while the flood has the budget
    assert report.polled == ["default"] and report.waiting == [], report
    assert [r.issue_uuid for r in outbox(rt)] == [issue]
    assert [a.status_code for a in answers].count(200) == 16  # 20 − polling's floor of 4
    refused = answers[-1]
    body = assert_json_error(refused, 503)
    assert int(refused.headers["Retry-After"]) >= 1 and body["retryAfter"] >= 1
    assert guance.rate_limited == 0 and len(guance.comments(issue)) == 16


def test_a_backlog_poll_cannot_take_the_replies_floor(make_runtime, guance, feishu, clock):
    guance.calls_per_minute = 20
    rt = make_runtime()
    poll(rt)
    start = clock.now()
    for i in range(3000):  # 30 pages: more than a minute's budget
        guance.add_issue(f"n{i}", created_at=start + 1 + i // 100)
    clock.advance(60)
    assert poll(rt).waiting == ["default"]  # polling used its share and stopped
    issue = guance.issues[0]["uuid"]
    answers = flood(create_app(rt).test_client(), issue, limit=4)
    assert [a.status_code for a in answers] == [200] * 4  # the replies' floor is still there
    assert guance.rate_limited == 0


def test_each_kind_keeps_its_floor_in_the_process_limiter_too():
    from relay.clock import FakeClock
    from relay.ratelimit import BACKGROUND, REPLY, LimitExceeded, RateLimiter

    limiter = RateLimiter([(20, 61.0)], FakeClock())
    taken = {REPLY: 0, BACKGROUND: 0}
    for kind in (REPLY, BACKGROUND):
        while True:
            try:
                limiter.acquire(reserve=4, kind=kind)
            except LimitExceeded:
                break
            taken[kind] += 1
    assert taken == {REPLY: 16, BACKGROUND: 4}  # replies first: polling still gets its 4
