"""`/mute 2h` from chat: new cards of that issue's source are held back (recorded as `muted`,
listed on the delivery log page), other sources still go out, and when the mute ends the group
gets one summary of what was held back."""

from __future__ import annotations

import pytest

from jobs.deliver import deliver as deliver_job
from relay.pipeline.deliver import deliver
from relay.pipeline.mute import active_resources, hold_back
from relay.pipeline.poll import poll
from relay.web.app import create_app
from tests.helpers import REPLY_TOKEN, card_uuids, cards, outbox


@pytest.fixture
def rt(make_runtime):
    return make_runtime(ui_token="ui-token-0123456789")


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def flow(client, text: str):
    return client.post("/feishu/reply", json={"content": text, "sender": "Alice"},
                       headers={"Authorization": f"Bearer {REPLY_TOKEN}"})


def new(rt, guance, clock, *specs: tuple[str, str]) -> list[str]:
    made = new_queued(rt, guance, clock, *specs)
    deliver(rt)
    return made


def test_mute_holds_back_its_source_then_sums_up(rt, client, guance, feishu, clock):
    poll(rt)
    [first] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    resp = flow(client, f"#{first}#/mute 2h flapping, looking at it")
    assert resp.status_code == 200, resp.get_json()
    assert "Muted disk-mon until" in resp.get_json()["said"]
    assert guance.comments(first)[0].startswith("Muted from Feishu by Alice (2h")
    held, other = new(rt, guance, clock, ("disk full on db-2", "disk-mon"),
                      ("cpu high", "cpu-mon"))
    assert card_uuids(feishu) == [first, other]  # the muted source's card held back
    assert {r.issue_uuid: r.status for r in outbox(rt)}[held] == "muted"
    page = client.get("/?token=ui-token-0123456789", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert held in text and "Active mutes" in text and "Feishu by Alice" in text
    clock.advance(2 * 3600)
    deliver_job(rt)  # the mute is over: one summary
    summary = cards(feishu)[-1]
    assert summary["title"] == "🔕 Mute of disk-mon ended: 1 card(s) were held back"
    assert held in summary["message"]
    deliver_job(rt)
    assert len(cards(feishu)) == 3  # once
    [after] = new(rt, guance, clock, ("disk full again", "disk-mon"))
    assert card_uuids(feishu)[-1] == after  # no longer muted


def test_mute_needs_a_duration_and_a_relayed_issue(rt, client, guance, clock):
    poll(rt)
    [issue] = new(rt, guance, clock, ("disk full", "disk-mon"))
    resp = flow(client, f"#{issue}#/mute for a while")
    assert resp.status_code == 400 and "/mute 2h" in resp.get_json()["said"]
    stranger = guance.add_issue("never relayed")
    resp = flow(client, f"#{stranger}#/mute 1h")
    assert resp.status_code == 400 and "has not sent a card" in resp.get_json()["said"]
    assert guance.comments(issue) == [] and guance.comments(stranger) == []


def test_deliver_reads_the_mutes_once_a_look_and_an_ended_one_holds_nothing(rt, client, guance,
                                                                             feishu, clock):
    """deliver reads the mutes at each look at the store, not for every card; a card met after
    its mute ended (the run's view of the mutes older than that) is sent, never held unsummed."""
    poll(rt)
    [first] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    assert flow(client, f"#{first}#/mute 30m").status_code == 200
    muted = active_resources(rt)
    assert list(muted) == ["disk-mon"]
    clock.advance(30 * 60 + 1)  # the mute is over; `muted` is what a running deliver still holds
    [later] = new_queued(rt, guance, clock, ("disk full on db-2", "disk-mon"))
    row = next(r for r in outbox(rt) if r.issue_uuid == later)
    assert hold_back(rt, row, muted) is False
    assert {r.issue_uuid: r.status for r in outbox(rt)}[later] == "pending"


def new_queued(rt, guance, clock, *specs: tuple[str, str]) -> list[str]:
    clock.advance(30)
    made = [guance.add_issue(title, resource=resource) for title, resource in specs]
    clock.advance(30)
    poll(rt)
    return made
