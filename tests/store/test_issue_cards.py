"""The outbox holds more than issues' own cards: storm digests, reminders, mute summaries and
status changes. The jobs that act per issue (the tracker, reminders, reply notes) see only the
issues' own cards."""

from __future__ import annotations

from sqlalchemy import select, update

from relay.store import outbox as store
from relay.store.base import make_engine, migrate
from relay.store.follow import carded_issues

KEYS = ["issue_a1", "issue_a1~20~1767225600", "st~0123abcd", "digest_ops_1767225600",
        "r1_issue_a1", "mute_3"]


def test_only_an_issues_own_card_counts_as_an_issue(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/relay.db")
    migrate(engine)
    now = 1_767_225_600
    store.record_poll(engine, "chan", "ops", now, now, [
        {"issue_uuid": key, "destination": "ops", "issue_created_at": now,
         "payload": {"uuid": key, "level": "P0"}} for key in KEYS])
    with engine.begin() as conn:
        conn.execute(update(store.Delivery).values(status=store.SENT, sent_at=now))
    with engine.connect() as conn:
        assert list(conn.scalars(select(store.Delivery.issue_uuid).where(store.ISSUE_CARD))) == [
            "issue_a1"]
    assert list(carded_issues(engine, now - 60)) == ["issue_a1"]
