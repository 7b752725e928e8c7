"""An event DingTalk pushes again (no ack seen in time) acts once: also when the second push
goes to another replica's connection on the same database (SQLite and PostgreSQL), as DingTalk
pushes each frame to one of the app's connections."""

from __future__ import annotations

from relay.platforms.dingtalk_app.state import dingtalk_app_state
from relay.platforms.dingtalk_app.stream import BOT_MESSAGE_TOPIC
from relay.sandbox.dingtalk_app import bot_message, wait_until
from tests.connections.conftest import GROUP, serving


def test_a_redelivered_event_acts_once_across_replicas(make_dt, ding, guance, database_url):
    first = make_dt(database_url=database_url)
    serving(first, ding, 1)
    second = make_dt(database_url=database_url)
    serving(second, ding, 2)
    assert len(ding.open_connections()) == 2  # one per replica
    issue = guance.add_issue("Disk full on db-1")
    message = ding.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, f"#{issue}#once", ding.app_key),
                        to=0)
    ding.push_again(message, to=1)  # the ack was late: DingTalk tries the other connection
    assert ding.wait_acked(message, 2)
    assert wait_until(lambda: ding.texts_in(GROUP))
    for rt in (first, second):
        dingtalk_app_state(rt).stream.worker.run_due()
    assert len(guance.comments(issue)) == 1 and len(ding.texts_in(GROUP)) == 1
    counts = [rt.metrics.connection_events.labels("dingtalk_app", event)._value.get()
              for rt in (first, second) for event in ("received", "redelivered")]
    assert sorted(counts) == [0, 0, 1, 1]  # one replica took it, the other saw it again
