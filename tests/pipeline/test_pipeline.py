"""poll → outbox → deliver, end to end against the fake Guance and Feishu on real sockets.

Assertions are on what a user sees: the cards the fake Feishu accepted, and the outbox rows."""

from __future__ import annotations

import json
import logging

import pytest
import responses
from sqlalchemy.orm import Session

from jobs import JOBS
from relay.payloads import IssueCard
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.sandbox.guance import DEFAULT_CHANNEL
from relay.store import outbox as store
from tests.helpers import HOOK, card_uuids, outbox


def row_of(rt, issue_uuid: str, destination: str = "default") -> store.Delivery:
    (row,) = [r for r in outbox(rt) if r.issue_uuid == issue_uuid and r.destination == destination]
    return row


def run(rt) -> tuple:
    """One scheduled minute: poll, then deliver."""
    return poll(rt), deliver(rt)


# -- 1. overlap -----------------------------------------------------------------------------------

def test_issue_read_again_in_overlap_window_is_delivered_once(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    poll(rt)
    clock.advance(30)
    uuid = guance.add_issue("disk full", level=0, message="/var at 99%")
    clock.advance(30)
    first, _ = run(rt)
    assert first.new_rows == 1
    rereads = 0
    for _ in range(4):  # the next runs read the issue again (it is inside the overlap window)
        clock.advance(60)
        report, _ = run(rt)
        rereads += report.issues_seen
        assert report.new_rows == 0
    assert rereads >= 3, "the overlap window did not re-read the issue; the test proves nothing"
    assert card_uuids(feishu) == [uuid]
    assert [(r.issue_uuid, r.status) for r in outbox(rt)] == [(uuid, store.SENT)]


def test_issue_read_again_before_delivery_is_queued_once(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    poll(rt)
    clock.advance(10)
    uuid = guance.add_issue("late", message="m")
    for _ in range(3):  # polled three times before anything is delivered
        clock.advance(20)
        poll(rt)
    deliver(rt)
    deliver(rt)
    assert card_uuids(feishu) == [uuid]


# -- 2. restart -----------------------------------------------------------------------------------

def test_restart_sends_nothing_twice_and_sends_what_a_crash_left(make_runtime, guance, feishu,
                                                                  clock):
    rt1 = make_runtime()
    poll(rt1)
    clock.advance(20)
    a = guance.add_issue("A", message="a")
    clock.advance(40)
    run(rt1)
    assert card_uuids(feishu) == [a]
    clock.advance(20)
    b = guance.add_issue("B", message="b")
    clock.advance(40)
    report = poll(rt1)  # B is queued ... and the process dies before delivering it
    assert report.new_rows == 1
    assert row_of(rt1, b).status == store.PENDING
    rt1.close()

    rt2 = make_runtime()  # a new process on the same database file
    assert rt2.settings.database_url == rt1.settings.database_url
    clock.advance(30)
    sent = deliver(rt2)
    assert sent.sent == 1
    assert card_uuids(feishu) == [a, b]
    for _ in range(3):  # its polls re-read A and B inside the overlap window
        clock.advance(60)
        run(rt2)
    assert card_uuids(feishu) == [a, b]
    assert {r.issue_uuid: r.status for r in outbox(rt2)} == {a: store.SENT, b: store.SENT}


def test_restart_with_the_job_functions(make_runtime, guance, feishu, clock):
    """The crontab's jobs (poll_issues delivers right away) across a restart."""
    rt1 = make_runtime()
    JOBS["poll_issues"](rt1)
    clock.advance(30)
    a = guance.add_issue("A")
    clock.advance(30)
    JOBS["poll_issues"](rt1)
    clock.advance(30)
    b = guance.add_issue("B")
    clock.advance(30)
    JOBS["poll_issues"](rt1, deliver=False)
    rt1.close()
    rt2 = make_runtime()
    for _ in range(3):
        JOBS["deliver"](rt2)
        clock.advance(60)
        JOBS["poll_issues"](rt2)
    assert card_uuids(feishu) == [a, b]


# -- 3. downtime ----------------------------------------------------------------------------------

def test_ten_minutes_of_downtime_every_issue_delivered_once(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    run(rt)
    made = []
    for _ in range(10):  # relay is down; an issue is created every minute
        clock.advance(60)
        made.append(guance.add_issue(f"issue at {clock.now():.0f}"))
    report, sent = run(rt)
    assert report.new_rows == 10 and sent.sent == 10
    for _ in range(3):
        clock.advance(60)
        run(rt)
    assert card_uuids(feishu) == made


def test_downtime_beyond_max_catchup_skips_older_issues_with_warning(make_runtime, guance, feishu,
                                                                     clock, caplog):
    rt = make_runtime(max_catchup_seconds=300, overlap_seconds=60)
    run(rt)
    made = []
    for _ in range(10):
        clock.advance(60)
        made.append((guance.add_issue(f"issue at {clock.now():.0f}"), clock.now()))
    floor = clock.now() - 300  # (deliver may move the fake clock: Feishu's 5/s limit)
    with caplog.at_level(logging.WARNING, logger="relay.poller"):
        run(rt)
    expected = [u for u, created in made if created >= floor]
    assert 0 < len(expected) < len(made)
    assert card_uuids(feishu) == expected
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("RELAY_MAX_CATCHUP_SECONDS" in r.getMessage() for r in warnings)


# -- 4. Feishu failures ---------------------------------------------------------------------------

@pytest.mark.parametrize("fault, error_text", [("500", "HTTP 500"), ("code", "19024")])
def test_feishu_failure_leaves_row_pending_then_next_run_sends(make_runtime, guance, feishu, clock,
                                                               fault, error_text):
    rt = make_runtime()
    poll(rt)
    clock.advance(10)
    a = guance.add_issue("A")
    clock.advance(1)
    b = guance.add_issue("B")
    clock.advance(49)
    feishu.faults.append(fault)
    report, sent = run(rt)
    assert report.new_rows == 2
    assert (sent.sent, sent.failed) == (0, 1)
    assert feishu.received == []
    row = row_of(rt, a)
    assert row.status == store.PENDING and row.attempts == 1
    assert error_text in row.last_error
    assert row.next_attempt_at > clock.now()
    assert row_of(rt, b).status == store.PENDING  # waits behind A
    assert row_of(rt, b).next_attempt_at >= row.next_attempt_at

    clock.advance(row.next_attempt_at - clock.now() + 1)
    sent = deliver(rt)
    assert sent.sent == 2
    assert card_uuids(feishu) == [a, b]
    assert row_of(rt, a).status == store.SENT and row_of(rt, a).last_error is None
    clock.advance(60)
    run(rt)
    assert card_uuids(feishu) == [a, b]


def test_feishu_429_honours_retry_after(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    poll(rt)
    clock.advance(10)
    a = guance.add_issue("A")
    clock.advance(50)
    feishu.faults.append("429")  # the fake sends Retry-After: 30
    failed_at = clock.now()
    run(rt)
    row = row_of(rt, a)
    assert row.status == store.PENDING and "429" in row.last_error
    assert row.next_attempt_at == failed_at + 30
    clock.advance(20)
    assert deliver(rt).sent == 0  # still inside Retry-After
    assert card_uuids(feishu) == []
    clock.advance(11)
    assert deliver(rt).sent == 1
    assert card_uuids(feishu) == [a]


def test_cards_stay_in_creation_order_when_new_issues_arrive_during_an_outage(
        make_runtime, guance, feishu, clock):
    """Feishu fails for a while (back-off grows); an issue created meanwhile must not overtake
    the older ones once Feishu is back."""
    rt = make_runtime()
    poll(rt)
    clock.advance(10)
    a = guance.add_issue("A")
    clock.advance(1)
    b = guance.add_issue("B")
    clock.advance(49)
    poll(rt)
    for _ in range(3):  # three failed tries of A: its back-off is now 30-60 s
        feishu.faults.append("500")
        assert deliver(rt).failed == 1
        clock.advance(row_of(rt, a).next_attempt_at - clock.now())
    feishu.faults.append("500")
    assert deliver(rt).failed == 1
    assert row_of(rt, a).attempts == 4
    clock.advance(1)
    c = guance.add_issue("C")  # Feishu is back from here on
    clock.advance(4)
    run(rt)  # the every-minute job: polls C and delivers what is due
    for _ in range(5):
        clock.advance(60)
        run(rt)
    assert card_uuids(feishu) == [a, b, c]


def test_429_then_new_issue_keeps_order(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    poll(rt)
    clock.advance(10)
    a = guance.add_issue("A")
    clock.advance(50)
    poll(rt)
    feishu.faults.append("429")
    deliver(rt)
    clock.advance(5)
    b = guance.add_issue("B")
    clock.advance(5)
    run(rt)
    clock.advance(60)
    run(rt)
    assert card_uuids(feishu) == [a, b]


def test_failing_destination_does_not_hold_up_another(make_runtime, two_teams, guance, feishu,
                                                      clock):
    rt = make_runtime(**two_teams)
    poll(rt)
    clock.advance(10)
    ops1 = guance.add_issue("ops 1", ["ops"])
    clock.advance(1)
    db1 = guance.add_issue("db 1", ["db"])
    clock.advance(1)
    ops2 = guance.add_issue("ops 2", ["ops"])
    clock.advance(48)
    feishu.faults.append("500")  # the first post (ops 1) fails
    run(rt)
    assert card_uuids(feishu, "hook-db") == [db1]
    assert card_uuids(feishu, "hook-ops") == []
    clock.advance(60)
    run(rt)
    assert card_uuids(feishu, "hook-ops") == [ops1, ops2]


# -- 5. Guance failures ---------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["500", "malformed", "unsuccessful", "ratelimit", "timeout"])
def test_guance_fault_keeps_cursor_and_next_run_recovers(make_runtime, guance, feishu, clock,
                                                         fault):
    rt = make_runtime(guance_timeout=0.5)
    guance.timeout_seconds = 1
    poll(rt)  # the first run: caches the channel list, starts the cursor
    for _ in range(6):  # quiet minutes, past the first run's overlap window
        clock.advance(60)
        poll(rt)
    cursor_before = store.cursor_of(rt.engine, DEFAULT_CHANNEL)
    assert cursor_before == clock.now()
    clock.advance(10)
    a = guance.add_issue("A")
    clock.advance(10)
    b = guance.add_issue("B")
    clock.advance(40)
    guance.faults.append(fault)
    report, _ = run(rt)
    assert report.failed == ["default"] and report.polled == []
    assert store.cursor_of(rt.engine, DEFAULT_CHANNEL) == cursor_before
    assert card_uuids(feishu) == []
    assert outbox(rt) == []
    with Session(rt.engine) as session:
        assert session.get(store.ChannelCursor, DEFAULT_CHANNEL).last_error

    clock.advance(61)  # past the minute relay holds back after a rate-limit answer
    c = guance.add_issue("C")
    clock.advance(5)
    report, _ = run(rt)
    assert report.failed == [] and report.polled == ["default"]
    assert store.cursor_of(rt.engine, DEFAULT_CHANNEL) == clock.now()
    assert card_uuids(feishu) == [a, b, c]
    with Session(rt.engine) as session:
        assert session.get(store.ChannelCursor, DEFAULT_CHANNEL).last_error is None


def test_guance_down_for_the_channel_list(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    guance.faults.append("500")
    report = poll(rt)
    assert report.failed == ["*"]
    assert store.cursor_of(rt.engine, DEFAULT_CHANNEL) is None
    clock.advance(60)
    poll(rt)  # the real first run
    clock.advance(10)
    a = guance.add_issue("A")
    clock.advance(50)
    run(rt)
    assert card_uuids(feishu) == [a]


def test_rate_limit_mid_poll_leaves_other_channels_waiting(make_runtime, guance, feishu, clock):
    for name in ("a", "b", "c"):
        guance.add_channel(name)
    rt = make_runtime(channels="a,b,c")
    for _ in range(7):
        run(rt)
        clock.advance(60)
    made = [guance.add_issue(n, [n]) for n in ("a", "b", "c")]
    clock.advance(5)
    guance.faults.append("ratelimit")  # Guance: 401 ft.TriggerApiAkCurrentLimiting
    calls_before = len(guance.calls)
    report, _ = run(rt)
    assert len(report.failed) == 1 and len(report.waiting) == 2
    assert len(guance.calls) == calls_before  # relay stopped calling for the rest of the minute
    assert card_uuids(feishu) == []
    clock.advance(61)
    report, _ = run(rt)
    assert sorted(report.polled) == ["a", "b", "c"]
    assert card_uuids(feishu) == made


def test_budget_used_up_before_the_channel_list_is_a_wait_not_a_failure(
        make_runtime, guance, feishu, clock, caplog):
    rt = make_runtime()
    rt.budget.block(60)  # e.g. replies took the whole minute
    with caplog.at_level(logging.WARNING):
        report = poll(rt)
    assert report.failed == [] and report.waiting == ["*"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    clock.advance(60)
    assert poll(rt).polled == ["default"]


def test_guance_down_for_several_runs_then_recovers(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    poll(rt)
    made = []
    for _ in range(5):
        clock.advance(60)
        made.append(guance.add_issue(f"at {clock.now():.0f}"))
        guance.faults.append("500")
        report, _ = run(rt)
        assert report.failed == ["default"]
    clock.advance(60)
    run(rt)
    assert card_uuids(feishu) == made


# -- 6. first run, since, deleted, routing -----------------------------------------------------------

def test_first_run_starts_from_now(make_runtime, guance, feishu, clock):
    old = [guance.add_issue("an hour ago", created_at=clock.now() - 3600),
           guance.add_issue("two minutes ago", created_at=clock.now() - 120),
           guance.add_issue("a second ago", created_at=clock.now() - 1)]
    rt = make_runtime()
    run(rt)
    clock.advance(30)
    new = guance.add_issue("new")
    for _ in range(7):  # well past the overlap window
        clock.advance(60)
        run(rt)
    assert card_uuids(feishu) == [new]
    assert not set(old) & {r.issue_uuid for r in outbox(rt)}


def test_issue_created_in_the_same_second_as_the_first_run_is_sent(make_runtime, guance,
                                                                    feishu, clock):
    """What `relay sandbox` does on a real clock: first poll, new issue, poll again, all within
    one second."""
    rt = make_runtime()
    run(rt)
    uuid = guance.add_issue("right away")
    run(rt)
    assert card_uuids(feishu) == [uuid]
    clock.advance(60)
    run(rt)
    assert card_uuids(feishu) == [uuid]


def test_first_run_with_since_backfills(make_runtime, guance, feishu, clock):
    start = clock.now()
    too_old = guance.add_issue("too old", created_at=start - 7200)
    wanted = [guance.add_issue("an hour ago", created_at=start - 3600),
              guance.add_issue("a minute ago", created_at=start - 60)]
    rt = make_runtime()
    report = poll(rt, since=int(start - 3700))
    deliver(rt)
    assert report.new_rows == 2
    clock.advance(30)
    new = guance.add_issue("new")
    for _ in range(3):
        clock.advance(60)
        run(rt)
    assert card_uuids(feishu) == wanted + [new]
    assert too_old not in card_uuids(feishu)


def test_deleted_issues_are_skipped(make_runtime, guance, feishu, clock):
    """Guance may list a deleted issue (deleteAt set): relay must not send it."""
    rt = make_runtime()
    poll(rt)  # caches the channel list from the fake
    now = int(clock.now())
    listed = [
        {"uuid": "issue_live00000001", "name": "live", "level": 1, "extend": {"text": "ok"},
         "resource": "m", "createAt": now + 10, "updateAt": now + 10, "deleteAt": -1},
        {"uuid": "issue_gone00000002", "name": "deleted", "level": 1, "extend": {"text": "x"},
         "resource": "m", "createAt": now + 20, "updateAt": now + 30, "deleteAt": now + 30},
    ]
    clock.advance(60)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add_passthru(feishu.url)
        rsps.add(responses.POST, f"{guance.url}/api/v1/issue/list", json={
            "code": 200, "success": True, "errorCode": "", "message": "", "traceId": "T",
            "content": {"data": listed, "pageInfo": {"totalCount": 2}}})
        report, _ = run(rt)
    assert report.issues_seen == 2
    assert card_uuids(feishu) == ["issue_live00000001"]
    assert [r.issue_uuid for r in outbox(rt)] == ["issue_live00000001"]


def test_routing_sends_each_channel_to_its_own_webhook(make_runtime, two_teams, guance, feishu,
                                                       clock):
    rt = make_runtime(**two_teams)
    run(rt)
    clock.advance(10)
    ops = guance.add_issue("ops only", ["ops"])
    clock.advance(1)
    db = guance.add_issue("db only", ["db"])
    clock.advance(1)
    both = guance.add_issue("both", ["ops", "db"])
    clock.advance(1)
    guance.add_issue("in no watched channel")
    for _ in range(3):
        clock.advance(60)
        run(rt)
    assert card_uuids(feishu, "hook-ops") == [ops, both]
    assert card_uuids(feishu, "hook-db") == [db, both]
    assert card_uuids(feishu, HOOK) == []
    assert len(feishu.received) == 4
    by_hook = {h: [c["title"] for c in feishu.for_hook(h)] for h in ("hook-ops", "hook-db")}
    assert by_hook == {"hook-ops": ["ops only", "both"], "hook-db": ["db only", "both"]}


def test_channel_without_route_goes_to_default_webhook(make_runtime, guance, feishu, clock):
    guance.add_channel("ops")
    guance.add_channel("web")
    rt = make_runtime(
        channels="ops,web",
        destinations={"ops-team": f"{feishu.url}/flow/api/trigger-webhook/hook-ops"},
        routes={"ops": ["ops-team"]})
    run(rt)
    clock.advance(10)
    ops = guance.add_issue("ops", ["ops"])
    web = guance.add_issue("web", ["web"])
    clock.advance(50)
    run(rt)
    assert card_uuids(feishu, "hook-ops") == [ops]
    assert card_uuids(feishu, HOOK) == [web]


def test_card_fields(make_runtime, guance, feishu, clock):
    rt = make_runtime(timezone="UTC")
    run(rt)
    clock.advance(10)
    created = clock.now()
    uuid = guance.add_issue("CPU high", level="system_level_1", message="98% on web-1",
                            resource="cpu-monitor")
    clock.advance(50)
    run(rt)
    (card,) = feishu.for_hook(HOOK)
    assert card == {"issue_uuid": uuid, "title": "CPU high", "level": "P1",
                    "source": "cpu-monitor", "message": "98% on web-1",
                    "createAt": "2026-01-01 00:00:10", "event": "new", "status": "Open"}
    assert created == 1_767_225_610
    json.dumps(card)


def test_a_row_handed_over_twice_in_one_poll_is_recorded_once(make_runtime, clock):
    """Guance's pages can shift while relay reads them, so one poll may see an issue twice."""
    rt = make_runtime()
    row = store.row(IssueCard(uuid="issue_twice"), "default", 1)
    other = store.row(IssueCard(uuid="issue_once"), "default", 1)
    now = int(clock.now())
    assert store.record_poll(rt.engine, "chan", "chan", now, now, [row, other, row]) == 2
    assert store.record_poll(rt.engine, "chan", "chan", now, now, [row, other]) == 0
    assert sorted(d.issue_uuid for d in store.list_deliveries(rt.engine)) == [
        "issue_once", "issue_twice"]
