"""Storms and outages: what a Feishu group sees when Guance raises hundreds of issues at once, and
when Feishu itself is down for ten minutes while issues keep coming.

The fake Feishu enforces the per-bot limits Feishu documents (5 a second, 100 a minute), so a
card relay sends too fast is refused and counted; the fake clock only moves when relay waits or
the test moves it, a minute per scheduled run."""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from relay.pipeline.deliver import BACKOFF_MAX, deliver
from relay.pipeline.poll import poll
from relay.platforms.render import format_time
from relay.store import outbox as store
from tests.helpers import cards, outbox

FEISHU_DOCUMENTED_LIMITS = [(5, 1.0), (100, 60.0)]  # per custom bot, from Feishu's docs


def every_minute(rt, clock, start: float, until, max_minutes: int) -> int:
    """Run poll + deliver at start + 60 s, + 120 s, … (a run that waited on Feishu's limit just
    ends later) until `until()` holds; returns the minutes that took."""
    for minute in range(1, max_minutes + 1):
        clock.advance(max(start + 60 * minute - clock.now(), 0))
        poll(rt)
        deliver(rt)
        if until():
            return minute
    return max_minutes + 1


def seed_storm(guance, clock, count: int, levels=lambda i: "system_level_2") -> list[str]:
    """`count` issues created within the coming minute, in creation order."""
    base = clock.now() + 5
    return [guance.add_issue(f"disk full on node-{i:03d}", level=levels(i), message=f"node {i}",
                             created_at=base + i * 50 // count) for i in range(count)]


def test_storm_of_500_sends_every_card_once_in_order_within_feishu_limits(
        make_runtime, guance, feishu, clock):
    feishu.limits = FEISHU_DOCUMENTED_LIMITS
    rt = make_runtime(storm_threshold=1000)  # no digest: one card per issue
    poll(rt)  # the first run starts the cursor
    start = clock.now()
    made = seed_storm(guance, clock, 500)
    created = {i["uuid"]: i["createAt"] for i in guance.issues}

    minutes = every_minute(rt, clock, start, lambda: len(feishu.received) >= 500, 15)

    sent = [c["issue_uuid"] for c in cards(feishu)]
    rows = outbox(rt)
    refused = feishu.too_frequent + sum(1 for r in rows if r.attempts > 1)
    http_429 = sum(1 for r in rows if "429" in (r.last_error or ""))
    lost, repeats = len(set(made) - set(sent)), len(sent) - len(set(sent))
    print(f"\nstorm: {len(made)} issues, {len(sent)} cards sent, {refused} refusals "
          f"({feishu.too_frequent} 'too frequent', {http_429} HTTP 429), {lost} lost, "
          f"{repeats} repeats, {minutes} simulated minutes")
    assert sorted(sent) == sorted(made) and lost == 0 and repeats == 0
    assert feishu.too_frequent == 0 and http_429 == 0
    assert all(r.status == store.SENT and r.attempts == 1 for r in rows)  # none refused, ever
    times = [created[u] for u in sent]
    assert times == sorted(times)  # creation order (to the second a card shows)
    assert minutes <= 6  # 100 a minute is the limit: five minutes of sending, one of slack


def test_storm_over_the_threshold_is_one_digest_card_per_destination(
        make_runtime, database_url, guance, feishu, clock):
    """Also on PostgreSQL, which gives no row count for these inserts: a re-read must still not
    look new (or every poll would send the digest again)."""
    rt = make_runtime(  # default threshold (10); a flow webhook and a custom bot
        database_url=database_url,
        destinations={"bot": f"{feishu.url}/open-apis/bot/v2/hook/tok-storm"},
        routes={"default": ["default", "bot"]}, timezone="UTC")
    poll(rt)
    start = clock.now()
    made = seed_storm(guance, clock, 500,
                      levels=lambda i: "system_level_0" if i % 50 == 7 else "system_level_2")

    every_minute(rt, clock, start, lambda: False, 4)  # later runs re-read the storm: no effect

    (flow,) = cards(feishu)
    (bot,) = cards(feishu, "tok-storm")
    assert flow["title"] == "Storm: 500 new issues in default"
    assert flow["level"] == "P0" and flow["source"] == "relay digest"
    lines = flow["message"].split("\n")
    assert lines[0] == "500 new issues: P0 ×10, P2 ×490"
    assert lines[1:6] == [f"- [P2] disk full on node-{i:03d} ({made[i]})" for i in range(5)]
    assert lines[6:] == ["… and 495 more"]
    last = max(i["createAt"] for i in guance.issues)
    assert flow["createAt"] == format_time(last, ZoneInfo("UTC"))  # the newest issue's time
    header = bot["card"]["header"]
    assert header["title"]["content"] == "[P0] Storm: 500 new issues in default"
    assert header["template"] == "red"

    rows = outbox(rt)
    for destination in ("default", "bot"):
        mine = [r for r in rows if r.destination == destination]
        digested = [r.issue_uuid for r in mine if r.status == store.DIGESTED]
        (digest,) = [r for r in mine if r.status == store.SENT]
        assert sorted(digested) == sorted(made)  # every issue is in the outbox
        assert len(mine) == 501
        assert digest.kind == "digest" and digest.card().issues == made
        assert len(digest.dedupe_key) <= 64 and digest.dedupe_key == flow["issue_uuid"]
        assert digest.issue_uuid is None  # a digest is about no one issue


def test_a_few_new_issues_are_sent_one_by_one_and_only_new_ones_count(
        make_runtime, guance, feishu, clock):
    rt = make_runtime()  # threshold 10
    poll(rt)
    start = clock.now()
    first = seed_storm(guance, clock, 8)
    every_minute(rt, clock, start, lambda: True, 1)
    assert [c["issue_uuid"] for c in cards(feishu)] == first

    later = seed_storm(guance, clock, 5)  # the next read sees 13, but only 5 are new
    every_minute(rt, clock, clock.now(), lambda: True, 1)
    assert [c["issue_uuid"] for c in cards(feishu)] == first + later
    assert all(r.status == store.SENT for r in outbox(rt))


def test_digest_starts_above_the_threshold(make_runtime, guance, feishu, clock):
    rt = make_runtime(storm_threshold=10, storm_titles=2)
    poll(rt)
    ten = seed_storm(guance, clock, 10)
    every_minute(rt, clock, clock.now(), lambda: True, 1)
    assert [c["issue_uuid"] for c in cards(feishu)] == ten
    eleven = seed_storm(guance, clock, 11)
    every_minute(rt, clock, clock.now(), lambda: True, 1)
    digest = cards(feishu)[10:]
    assert [c["title"] for c in digest] == ["Storm: 11 new issues in default"]
    assert digest[0]["message"].split("\n")[1:] == [
        f"- [P2] disk full on node-000 ({eleven[0]})",
        f"- [P2] disk full on node-001 ({eleven[1]})", "… and 9 more"]


def test_ten_minute_feishu_outage_then_every_card_once_in_order(make_runtime, two_teams, guance,
                                                                feishu, clock):
    rt = make_runtime(**two_teams)
    poll(rt)
    start = clock.now()
    feishu.down_until = start + 630  # still down at the 10th minute's run (a back-off may end then)
    made = {"hook-ops": [], "hook-db": []}
    tries = 0
    for minute in range(1, 11):  # Feishu answers 429 (Retry-After: 30) for 5 min, then 500
        feishu.down_with = "429" if minute <= 5 else "500"
        clock.advance(max(start + 60 * minute - 50 - clock.now(), 0))
        made["hook-ops"].append(guance.add_issue(f"ops {minute}", ["ops"]))
        clock.advance(3)
        made["hook-db"].append(guance.add_issue(f"db {minute}", ["db"]))
        if minute % 3 == 0:
            clock.advance(3)
            both = guance.add_issue(f"both {minute}", ["ops", "db"])
            made["hook-ops"].append(both)
            made["hook-db"].append(both)
        clock.advance(start + 60 * minute - clock.now())
        poll(rt)
        tries += deliver(rt).failed
    assert feishu.received == [] and tries >= 10  # it was tried and refused all along
    errors = Counter(r.last_error.split(" ")[1] for r in outbox(rt) if r.last_error)
    assert set(errors) <= {"429", "500"} and errors

    total = sum(len(v) for v in made.values())
    extra = every_minute(rt, clock, start + 600, lambda: len(feishu.received) >= total, 30)
    sent = {hook: [c["issue_uuid"] for c in cards(feishu, hook)] for hook in made}
    print(f"\noutage: {total} cards due, {tries} failed tries during 10 min, all sent "
          f"{extra} min after Feishu came back")
    assert sent == made  # each destination: every card, once, in creation order
    assert len(feishu.received) == total
    assert all(r.status == store.SENT for r in outbox(rt))
    assert extra <= BACKOFF_MAX / 60 + 1  # the longest back-off, then the next minute's run
