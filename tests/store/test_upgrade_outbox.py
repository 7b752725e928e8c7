"""A database written by the release before typed outbox rows (revision 0009) upgrades and keeps
working: every kind of row it holds is delivered, followed up and pruned as before, and nothing
queued before the upgrade is queued again after it. The rows are written as that release wrote
them: the 0009 columns, the kind only in spellings of `issue_uuid` and in the payload."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from jobs.prune import prune
from relay.pipeline.deliver import deliver
from relay.pipeline.track_issues import track_issues
from relay.pipeline.remind import remind
from relay.store import outbox as store
from relay.store.base import make_engine, migrate
from tests.helpers import cards

OLD_DELIVERIES = sa.table(  # the 0009 schema, spelt out: no kind, no dedupe_key
    "deliveries", sa.column("payload", sa.JSON()), *(sa.column(name) for name in (
        "issue_uuid", "destination", "channel", "issue_created_at", "status", "attempts",
        "next_attempt_at", "created_at", "updated_at", "sent_at", "message_id")))
OLD_STATES = sa.table("issue_states", sa.column("managers", sa.JSON()), *(
    sa.column(name) for name in ("issue_uuid", "status_type", "updator", "update_at",
                                 "created_at", "checked_at")))


def card(uuid: str, title: str, created: int) -> dict:
    return {"uuid": uuid, "title": title, "level": "P2", "source": "monitor", "message": "",
            "create_at": created, "channel": "default"}


def write_release_0009(url: str, guance, clock) -> dict[str, str]:
    """The outbox of a running 0009 relay, one row of every kind; the issues' names."""
    engine = make_engine(url)
    migrate(engine, "0009")
    now = int(clock.now())
    unclaimed = guance.add_issue("unclaimed", created_at=now - 25 * 60)
    resolved = guance.add_issue("resolved")
    guance.set_status(resolved, 20)
    new = guance.add_issue("not sent yet")
    storm = [guance.add_issue(f"storm {n}") for n in range(2)]
    for uuid in storm:
        guance.set_status(uuid, 20)
    update_at = guance.issue(resolved)["updateAt"]
    digest = f"digest_chan_default_{now}_0123abcd"
    long_key = f"{resolved}~15~{update_at - 1}"
    issues = {"unclaimed": unclaimed, "resolved": resolved, "new": new, "digest": digest}

    def row(key: str, payload: dict, status: str = "pending", created: int = now) -> dict:
        sent = now - 60 if status == "sent" else None
        return {"issue_uuid": key, "destination": "default", "channel": "default",
                "issue_created_at": created, "payload": payload, "status": status,
                "attempts": 0, "next_attempt_at": now, "created_at": now - 60,
                "updated_at": now - 60, "sent_at": sent, "message_id": None}

    status = dict(card(resolved, "resolved", now), kind="status", event="status",
                  status="Resolved", status_type=20, previous_type=10, transition="resolved",
                  announce=True, by="Li Lei", changed_at=update_at, open_seconds=60,
                  managers=[], message_id=None)
    digest_card = dict(card(digest, "Storm: 2 new issues in default", now), kind="digest",
                       source="relay digest", issues=storm)
    rows = [
        row(unclaimed, card(unclaimed, "unclaimed", now - 25 * 60), "sent", now - 25 * 60),
        row(resolved, card(resolved, "resolved", now), "sent"),
        row(new, card(new, "not sent yet", now)),
        row(f"{resolved}~20~{update_at}", status),
        # a change whose key would be longer than 64 characters: hashed (already told)
        row("st~" + hashlib.sha1(long_key.encode()).hexdigest(),
            dict(status, status_type=15, transition="claimed", changed_at=update_at - 1), "sent"),
        *(row(uuid, card(uuid, f"storm {n}", now), "digested") for n, uuid in enumerate(storm)),
        row(digest, digest_card, "sent"),
        row(f"{digest}~done", dict(digest_card, kind="digest_status", event="status", total=2,
                                   resolved=2, closed=0, message_id=None, status="2/2")),
        row(f"r1_{unclaimed}", dict(card(unclaimed, "⏰ Unclaimed for 10 min: unclaimed",
                                         now - 25 * 60), reminder=1, managers=[]),
            created=now - 25 * 60),
        row("mute_3", {"uuid": "mute_3", "kind": "mute_summary", "level": "Unknown",
                       "title": "Mute of monitor ended: 1 card held back", "source": "relay mute",
                       "message": "- [P2] held (issue_held0001)", "create_at": now,
                       "channel": "default"}),
    ]
    states = [{"issue_uuid": uuid, "status_type": status_type, "managers": [], "updator": "",
               "update_at": guance.issue(uuid)["updateAt"], "created_at": now,
               "checked_at": now} for uuid, status_type in
              [(unclaimed, 10), (resolved, 20), *((u, 20) for u in storm)]]
    with engine.begin() as conn:
        conn.execute(OLD_DELIVERIES.insert(), rows)
        conn.execute(OLD_STATES.insert(), states)
    engine.dispose()
    return issues


def test_every_kind_of_row_of_release_0009_works_after_the_upgrade(
        database_url, make_runtime, guance, feishu, clock):
    issues = write_release_0009(database_url, guance, clock)
    rt = make_runtime(database_url=database_url, reminders={"P2": 10}, reminder_max=2)

    kinds = {(d.kind, d.issue_uuid, d.dedupe_key) for d in store.list_deliveries(rt.engine)}
    unclaimed, resolved, new, digest = (issues[k] for k in ("unclaimed", "resolved", "new",
                                                            "digest"))
    storm = [i["uuid"] for i in guance.issues if i["name"].startswith("storm")]
    assert {(kind, issue) for kind, issue, _ in kinds} == {
        ("issue", unclaimed), ("issue", resolved), ("issue", new), ("status", resolved),
        ("digest", None), ("digest_status", None), ("reminder", unclaimed),
        ("mute_summary", None), *(("issue", uuid) for uuid in storm)}
    assert f"r1_{unclaimed}" in {key for *_, key in kinds}  # the keys are kept as they were

    # delivered: every pending row, each as its kind is sent
    deliver(rt)
    sent = {(c["issue_uuid"], c["event"], c["title"]) for c in cards(feishu)}
    assert sent == {
        (new, "new", "not sent yet"),
        (resolved, "status", "resolved"),
        (digest, "status", "Storm: 2 new issues in default"),
        (unclaimed, "new", "⏰ Unclaimed for 10 min: unclaimed"),
        ("mute_3", "new", "Mute of monitor ended: 1 card held back"),
    }
    assert not [d for d in store.list_deliveries(rt.engine) if d.status == store.PENDING]

    # followed up: a change is told once, a told one not again, the next reminder is the 2nd
    guance.set_status(new, 25)
    report = track_issues(rt)
    assert report.changes == 1 and report.queued == 1  # the digest's follow-up is not repeated
    assert remind(rt).queued == 1
    deliver(rt)
    later = cards(feishu)[len(sent):]
    assert sorted((c["issue_uuid"], c["event"], c["title"]) for c in later) == sorted([
        (new, "status", "not sent yet"),
        (unclaimed, "new", "⏰ Unclaimed for 20 min: unclaimed")])
    assert remind(rt).queued == 0  # reminder_max reached

    # pruned: every row sent, digested or dead once it is old; pending rows never
    clock.advance(31 * 86_400)
    prune(rt, days=30)
    assert store.list_deliveries(rt.engine) == []

