"""A database of the release before scoped mutes (revision 0010) upgrades safely: a global mute
still running is ended by the migration (it held every destination's cards, another team's P0
included), and its summary goes out at the next deliver run to the destination whose cards it
held, listing them; no other destination is held any more."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from jobs.deliver import deliver as deliver_job
from relay.clock import FakeClock
from relay.store import mutes as mute_store
from relay.store.base import make_engine, migrate
from tests.helpers import cards, outbox

OLD_MUTES = sa.table("mutes", *(sa.column(name) for name in (
    "resource", "issue_uuid", "created_by", "created_at", "until", "summarized_at")))
DELIVERIES = sa.table("deliveries", sa.column("payload", sa.JSON()), *(sa.column(name) for name in (
    "kind", "dedupe_key", "issue_uuid", "destination", "channel", "issue_created_at", "status",
    "attempts", "next_attempt_at", "created_at", "updated_at")))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())  # the migration ends a running mute at the real time


def test_a_running_global_mute_is_ended_and_summed_up_where_it_held(make_runtime, tmp_path,
                                                                     feishu, clock):
    url = f"sqlite:///{tmp_path}/relay.db"
    engine = make_engine(url)
    migrate(engine, "0010")
    now = int(clock.now())

    def card(uuid: str, status: str, destination: str) -> dict:
        payload = {"uuid": uuid, "title": f"disk full {uuid[-1]}", "level": "P0",
                   "source": "disk-mon", "create_at": now - 30, "channel": "default"}
        return {"kind": "issue", "dedupe_key": uuid, "issue_uuid": uuid, "payload": payload,
                "destination": destination, "channel": "default", "issue_created_at": now - 30,
                "status": status, "attempts": 0, "next_attempt_at": now,
                "created_at": now - 30, "updated_at": now - 30}

    with engine.begin() as conn:
        conn.execute(sa.insert(OLD_MUTES), [
            {"resource": "disk-mon", "issue_uuid": "issue_first", "created_by": "Feishu by Al",
             "created_at": now - 60, "until": now + 7 * 86400, "summarized_at": None}])
        conn.execute(sa.insert(DELIVERIES), [card("issue_held1", "muted", "default"),
                                             card("issue_next2", "pending", "default")])
    engine.dispose()
    rt = make_runtime(database_url=url)  # migrates to the newest revision
    (old,) = mute_store.ended(rt.engine, now + 60)
    assert old.until <= now + 60 and old.destinations == ["default"] and not old.include_p0
    assert mute_store.active(rt.engine, now + 60) == []
    clock.advance(60)
    deliver_job(rt)
    sent = cards(feishu)
    assert [c["issue_uuid"] for c in sent if c["issue_uuid"].startswith("issue_")] == [
        "issue_next2"]  # no longer held
    [summary] = [c for c in sent if c["title"].startswith("🔕")]
    assert summary["title"] == "🔕 Mute of disk-mon ended: 1 card(s) were held back"
    assert "issue_held1" in summary["message"]
    assert {r.dedupe_key: r.status for r in outbox(rt)}["issue_held1"] == "muted"
