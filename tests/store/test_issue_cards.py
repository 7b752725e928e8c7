"""The outbox holds more than issues' own cards: storm digests, reminders, mute summaries and
status changes. The jobs that act per issue (the tracker, reminders, reply notes) see only the
issues' own cards."""

from __future__ import annotations

from sqlalchemy import select, update

from relay import payloads
from relay.store import outbox as store
from relay.store.base import make_engine, migrate
from relay.store.issue_states import carded_issues

NOW = 1_767_225_600
ISSUE = "issue_a1"
CARD = payloads.IssueCard(uuid=ISSUE, level="P0", create_at=NOW)
ONE_OF_EACH = [
    CARD,
    payloads.StatusChange(uuid=ISSUE, level="P0", status_type=20, previous_type=10,
                          changed_at=NOW),
    payloads.StatusChange(uuid="issue_" + "a" * 58, level="P0", status_type=20,
                          previous_type=10, changed_at=NOW),  # a key too long: st~<sha1>
    payloads.StormDigest(uuid="digest_ops_1767225600", level="P0", issues=[ISSUE]),
    payloads.DigestStatus(uuid="digest_ops_1767225600", total=1, resolved=1, closed=0),
    payloads.Reminder(uuid=ISSUE, level="P0", reminder=1),
    payloads.MuteSummary(uuid="mute_3", level="P0"),
]


def test_only_an_issues_own_card_counts_as_an_issue(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    store.record_poll(engine, "chan", "ops", NOW, NOW,
                      [store.row(p, "ops", NOW) for p in ONE_OF_EACH])
    with engine.begin() as conn:
        conn.execute(update(store.Delivery).values(status=store.SENT, sent_at=NOW))
    with engine.connect() as conn:
        rows = conn.execute(select(store.Delivery.kind, store.Delivery.issue_uuid)
                            .order_by(store.Delivery.id)).all()
    assert [tuple(r) for r in rows] == [
        ("issue", ISSUE), ("status", ISSUE), ("status", "issue_" + "a" * 58), ("digest", None),
        ("digest_status", None), ("reminder", ISSUE), ("mute_summary", None)]
    assert list(carded_issues(engine, NOW - 60)) == [ISSUE]


def test_a_row_comes_back_as_its_kinds_model(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    store.record_poll(engine, "chan", "ops", NOW, NOW,
                      [store.row(p, "ops", NOW) for p in ONE_OF_EACH])
    assert [d.card() for d in reversed(store.list_deliveries(engine))] == ONE_OF_EACH


def test_each_kind_is_queued_once_per_destination(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rows = [store.row(p, "ops", NOW) for p in ONE_OF_EACH]
    assert store.record_poll(engine, "chan", "ops", NOW, NOW, rows) == len(ONE_OF_EACH)
    assert store.record_poll(engine, "chan", "ops", NOW, NOW, rows) == 0
    elsewhere = [store.row(p, "db", NOW) for p in ONE_OF_EACH]
    assert store.record_poll(engine, "chan", "ops", NOW, NOW, elsewhere) == len(ONE_OF_EACH)
