"""`/mute 2h` from chat (issue 22.5): new cards of that issue's source are held back for the
destinations of the chat that muted, and only those (another team's group still gets them),
recorded as `muted` and listed on the delivery log page; P0 comes through unless the mute says
P0; a mute lasts at most RELAY_MUTE_MAX_HOURS; a storm digest leaves the muted cards out; an
issue with no monitor, check or resource cannot be muted; the chat is told when the mute starts
and when it ends."""

from __future__ import annotations

import pytest

from jobs.deliver import deliver as deliver_job
from relay.pipeline.deliver import deliver
from relay.pipeline.mute import active_mutes, hold_back
from relay.pipeline.poll import poll
from relay.store import mutes as mute_store
from relay.web.app import create_app
from tests.appbot import CHAT, OTHER_CHAT, signed_post, thread_reply, wait_for
from tests.helpers import REPLY_TOKEN, outbox

UI = "ui-token-0123456789"


@pytest.fixture
def rt(app_rt):
    """Two teams' app-bot chats, both routed the `default` channel."""
    return app_rt(ui_token=UI, feishu_app_chats={"ops-chat": CHAT, "db-chat": OTHER_CHAT},
                  routes={"default": ["ops-chat", "db-chat"]})


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def new_queued(rt, guance, clock, *specs, **fields) -> list[str]:
    """Issues (title, resource) made and polled; `fields`: what Guance lists besides."""
    clock.advance(30)
    made = [guance.add_issue(title, resource=resource, listed_as=dict(fields) or None,
                             level=fields.get("level", "system_level_2"))
            for title, resource in specs]
    clock.advance(30)
    poll(rt)
    return made


def new(rt, guance, clock, *specs, **fields) -> list[str]:
    made = new_queued(rt, guance, clock, *specs, **fields)
    deliver(rt)
    return made


def card_id(rt, issue: str, destination: str = "ops-chat") -> str:
    return next(r.message_id for r in outbox(rt)
                if r.issue_uuid == issue and r.destination == destination and r.kind == "issue")


def say(client, open_api, clock, rt, issue: str, text: str, chat: str = CHAT,
        destination: str = "ops-chat") -> str:
    """`@bot <text>` in the thread of the issue's card in `chat`: the bot's answer."""
    event = thread_reply(open_api, text, root_id=card_id(rt, issue, destination), chat=chat)
    signed_post(client, event, clock.now())
    message = event["event"]["message"]["message_id"]
    (answer,) = wait_for(lambda: open_api.texts_replying_to(message))
    return answer


def status(rt, issue: str, destination: str) -> str:
    return next(r.status for r in outbox(rt) if r.issue_uuid == issue and r.kind == "issue"
                and r.destination == destination)


def notices(rt, destination: str) -> list[str]:
    return [r.card().title for r in outbox(rt)
            if r.kind == "mute_summary" and r.destination == destination]


def test_a_mute_holds_back_its_source_only_in_the_chat_that_muted(rt, client, open_api, guance,
                                                                  clock):
    poll(rt)
    [first] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    answer = say(client, open_api, clock, rt, first, "/mute 2h flapping, looking at it")
    assert answer.startswith("Muted disk-mon until") and "(ops-chat)" in answer
    assert "other groups still get them" in answer
    assert guance.comments(first)[0].startswith("Muted from Feishu by ou_engineer0001 (2h")
    held, other = new(rt, guance, clock, ("disk full on db-2", "disk-mon"),
                      ("cpu high", "cpu-mon"))
    assert status(rt, held, "ops-chat") == "muted"
    assert status(rt, held, "db-chat") == "sent"  # the other team still gets the card
    assert status(rt, other, "ops-chat") == "sent"
    # the muting chat is told it started; the other chat is not concerned
    [started] = notices(rt, "ops-chat")
    assert started.startswith("🔕 disk-mon muted here until")
    assert notices(rt, "db-chat") == []
    page = client.get(f"/?token={UI}", follow_redirects=True).get_data(as_text=True)
    assert "Active mutes" in page and "ops-chat" in page and "Feishu by ou_engineer0001" in page
    clock.advance(2 * 3600)
    deliver_job(rt)  # the mute is over: one summary, in the chat that muted
    ended = [r.card() for r in outbox(rt) if r.kind == "mute_summary" and
             r.dedupe_key.count("_") == 1]
    assert [(c.title, held in c.message) for c in ended] == [
        ("🔕 Mute of disk-mon ended: 1 card(s) were held back", True)]
    assert notices(rt, "db-chat") == []
    deliver_job(rt)
    assert len(notices(rt, "ops-chat")) == 2  # once
    [after] = new(rt, guance, clock, ("disk full again", "disk-mon"))
    assert status(rt, after, "ops-chat") == "sent"  # no longer muted


def test_p0_comes_through_unless_the_mute_says_p0(rt, client, open_api, guance, clock):
    poll(rt)
    [first] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    answer = say(client, open_api, clock, rt, first, "/mute 2h")
    assert "P0 cards still come through" in answer
    [p0] = new(rt, guance, clock, ("disk gone on db-2", "disk-mon"), level="system_level_0")
    assert status(rt, p0, "ops-chat") == "sent"
    answer = say(client, open_api, clock, rt, first, "/mute 2h P0 we know")
    assert "P0 cards are held back too" in answer
    assert len(mute_store.active(rt.engine, int(clock.now()))) == 1  # renewed, not stacked
    [p0_again] = new(rt, guance, clock, ("disk gone on db-3", "disk-mon"),
                     level="system_level_0")
    assert status(rt, p0_again, "ops-chat") == "muted"
    renewed = [r.card().message for r in outbox(rt) if r.kind == "mute_summary"][-1]
    assert "P0 cards are held back too" in renewed  # the chat's notice announces it


def test_a_mute_lasts_at_most_the_cap_and_a_renewal_does_not_stack(rt, client, open_api, guance,
                                                                    clock):
    poll(rt)
    [first] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    answer = say(client, open_api, clock, rt, first, "/mute 7d")
    assert "at most 24 h (RELAY_MUTE_MAX_HOURS)" in answer
    (active,) = mute_store.active(rt.engine, int(clock.now()))
    assert active.until - int(clock.now()) <= 24 * 3600
    clock.advance(3600)
    say(client, open_api, clock, rt, first, "/mute 7d")
    (active,) = mute_store.active(rt.engine, int(clock.now()))
    assert active.until == int(clock.now()) + 24 * 3600  # 24 h from now, never 48


def test_a_storm_digest_leaves_out_the_muted_source(app_rt, open_api, guance, clock):
    rt = app_rt(feishu_app_chats={"ops-chat": CHAT, "db-chat": OTHER_CHAT},
                routes={"default": ["ops-chat", "db-chat"]}, storm_threshold=3)
    client = create_app(rt).test_client()
    poll(rt)
    [first] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    say(client, open_api, clock, rt, first, "/mute 2h")
    storm = new(rt, guance, clock, *[(f"disk full on db-{n}", "disk-mon") for n in range(2, 7)])
    digests = {r.destination for r in outbox(rt) if r.kind == "digest"}
    assert digests == {"db-chat"}  # the other team's storm digest, none in the muted chat
    assert {status(rt, i, "ops-chat") for i in storm} == {"muted"}
    clock.advance(2 * 3600)
    deliver_job(rt)
    [summary] = [r.card() for r in outbox(rt) if r.kind == "mute_summary"
                 and r.dedupe_key.count("_") == 1]
    assert "5 card(s) were held back" in summary.title


def test_a_mute_matches_by_the_monitor_and_refuses_a_bare_resource_type(rt, client, open_api,
                                                                        guance, clock):
    poll(rt)
    [bare] = new(rt, guance, clock, ("something happened", "ignored"), resource="")
    answer = say(client, open_api, clock, rt, bare, "/mute 2h")
    assert answer.startswith("Not muted:") and "only its kind (event)" in answer
    assert mute_store.active(rt.engine, int(clock.now())) == [] and guance.comments(bare) == []
    [first] = new(rt, guance, clock, ("cpu high on web-1", "cpu"), resourceUUID="rul_cpu_web")
    assert say(client, open_api, clock, rt, first, "/mute 1h").startswith("Muted cpu until")
    [same] = new(rt, guance, clock, ("cpu high on web-2", "cpu"), resourceUUID="rul_cpu_web")
    [other] = new(rt, guance, clock, ("cpu high on db-1", "cpu"), resourceUUID="rul_cpu_db")
    [plain] = new(rt, guance, clock, ("another event", "ignored"), resource="")
    assert status(rt, same, "ops-chat") == "muted"
    assert status(rt, other, "ops-chat") == "sent"  # same name, another monitor
    assert status(rt, plain, "ops-chat") == "sent"


def test_a_route_without_a_chat_cannot_mute(rt, client, open_api, guance, clock):
    poll(rt)
    [issue] = new(rt, guance, clock, ("disk full", "disk-mon"))
    resp = client.post("/feishu/reply", json={"content": f"#{issue}#/mute 2h", "sender": "Al"},
                       headers={"Authorization": f"Bearer {REPLY_TOKEN}"})
    assert resp.status_code == 400
    assert "does not say which chat" in resp.get_json()["said"]
    assert mute_store.active(rt.engine, int(clock.now())) == [] and guance.comments(issue) == []


def test_mute_needs_a_duration_and_a_relayed_issue(rt, client, open_api, guance, clock):
    poll(rt)
    [issue] = new(rt, guance, clock, ("disk full", "disk-mon"))
    assert "/mute 2h" in say(client, open_api, clock, rt, issue, "/mute for a while")
    assert guance.comments(issue) == []
    assert mute_store.active(rt.engine, int(clock.now())) == []


def test_deliver_reads_the_mutes_once_a_look_and_an_ended_one_holds_nothing(rt, client, open_api,
                                                                             guance, clock):
    """deliver reads the mutes at each look at the store, not for every card; a card met after
    its mute ended (the run's view of the mutes older than that) is sent, never held unsummed."""
    poll(rt)
    [first] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    say(client, open_api, clock, rt, first, "/mute 30m")
    muted = active_mutes(rt)
    assert list(muted) == [("disk-mon", "ops-chat")]
    clock.advance(30 * 60 + 1)  # the mute is over; `muted` is what a running deliver still holds
    [later] = new_queued(rt, guance, clock, ("disk full on db-2", "disk-mon"))
    row = next(r for r in outbox(rt) if r.issue_uuid == later and r.destination == "ops-chat")
    assert hold_back(rt, row, muted) is False
    assert status(rt, later, "ops-chat") == "pending"


def test_a_chat_relay_sends_no_cards_to_cannot_mute(app_rt, open_api, guance, clock):
    rt = app_rt(feishu_allowed_chats="*")  # the bot answers in any chat it is in
    client = create_app(rt).test_client()
    poll(rt)
    [issue] = new(rt, guance, clock, ("disk full", "disk-mon"))
    event = thread_reply(open_api, f"#{issue}#/mute 2h", chat="oc_thirdchat0000000000000003")
    signed_post(client, event, clock.now())
    asked = event["event"]["message"]["message_id"]
    (answer,) = wait_for(lambda: open_api.texts_replying_to(asked))
    # refused like any action from a chat that did not get the card, naming the setting
    assert answer.startswith("Not done: this chat (oc_thirdchat0000000000000003)")
    assert "RELAY_FEISHU_APP_CHATS" in answer
    assert mute_store.active(rt.engine, int(clock.now())) == []


def test_reminders_wait_only_in_the_chat_that_muted(app_rt, open_api, guance, clock):
    from relay.pipeline.remind import remind

    rt = app_rt(feishu_app_chats={"ops-chat": CHAT, "db-chat": OTHER_CHAT},
                routes={"default": ["ops-chat", "db-chat"]}, reminders={"P2": 10})
    client = create_app(rt).test_client()
    poll(rt)
    [issue] = new(rt, guance, clock, ("disk full on db-1", "disk-mon"))
    say(client, open_api, clock, rt, issue, "/mute 2h")
    clock.advance(10 * 60)
    remind(rt)
    assert [r.destination for r in outbox(rt) if r.kind == "reminder"] == ["db-chat"]
