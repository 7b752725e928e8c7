"""A button callback while another process holds SQLite's write lock (issue 22.6): relay waits
about a second, not RELAY_DATABASE_BUSY_TIMEOUT (Feishu gives a callback 3 s), answers with a
toast that says the click was not done, and the click is never acted on later; once the lock is
gone the same button works."""

from __future__ import annotations

import time

from relay.platforms.feishu.state import feishu_state
from relay.sandbox.feishu_app import click_event
from relay.store import events as event_store
from relay.web.app import create_app
from tests.appbot import CHAT, ENGINEER, VTOKEN, send_card, signed_post, wait_for
from tests.web.test_database_busy import write_locked


def test_a_click_on_a_locked_database_is_answered_in_time_and_not_acted_on(
        app_rt, open_api, guance, clock, tmp_path):
    rt = app_rt(database_busy_timeout=30)
    client = create_app(rt).test_client()
    issue, card_id = send_card(rt, guance, clock)
    event = click_event(VTOKEN, CHAT, card_id, {"relay_action": "resolve", "issue": issue},
                        operator=ENGINEER)
    with write_locked(tmp_path / "relay.db"):
        started = time.monotonic()
        resp = signed_post(client, event, clock.now())
        took = time.monotonic() - started
    assert resp.status_code == 200 and took < 2.5, took
    toast = resp.get_json()["toast"]
    assert toast["type"] == "error" and "not done" in toast["content"]
    assert "Click again" in toast["content"]
    assert event_store.get_event(rt.engine, event["header"]["event_id"]) is None
    feishu_state(rt).worker.run_due()
    assert guance.modifications == [] and open_api.texts_replying_to(card_id) == []
    clock.advance(1)
    again = click_event(VTOKEN, CHAT, card_id, {"relay_action": "resolve", "issue": issue},
                        operator=ENGINEER)
    assert signed_post(client, again, clock.now()).get_json()["toast"]["type"] == "info"
    (answer,) = wait_for(lambda: open_api.texts_replying_to(card_id))
    assert answer.startswith(f"Resolved {issue}")
