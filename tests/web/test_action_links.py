"""Signed action links on cards of platforms that cannot call back: a GET shows a confirmation
page and changes nothing, the POST acts once (modify + "Resolved from DingTalk link"), a reused,
forged or expired link is refused, and each use is on the reply log and in /metrics."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.replies.links import LinkSigner
from relay.store import replylog
from relay.web.app import create_app
from tests.helpers import cards
from tests.robots import DING_TOKEN, WECOM_KEY, ding_url, new_issues, wecom_url

PUBLIC = "https://relay.example.com"
SECRET = "action-link-secret-0123456789-abcdefghij"
LINK = re.compile(r"\[(Claim|Resolve)\]\((https://relay\.example\.com/actions/[^)]+)\)")


@pytest.fixture
def rt(make_runtime, dingtalk):
    return make_runtime(public_url=PUBLIC, action_link_secret=SECRET,
                        destinations={"ding": ding_url(dingtalk)}, routes={"default": "ding"})


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def ding_links(rt, guance, dingtalk, clock) -> tuple[str, dict[str, str]]:
    """An issue relayed to the DingTalk robot: (its uuid, label → link path with query)."""
    [uuid] = new_issues(rt, guance, clock)
    [body] = dingtalk.for_robot(DING_TOKEN)
    found = dict(LINK.findall(body["markdown"]["text"]))
    return uuid, {label: url.removeprefix(PUBLIC) for label, url in found.items()}


def statuses(guance, uuid: str) -> list:
    return [body.get("statusType") for issue, body in guance.modifications if issue == uuid]


def test_get_shows_a_confirmation_and_changes_nothing(rt, client, guance, dingtalk, clock):
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    assert set(links) == {"Claim", "Resolve"}
    calls = len(guance.calls)
    for _ in range(3):  # chat apps fetch links to draw previews
        resp = client.get(links["Resolve"])
        assert resp.status_code == 200
        page = resp.get_data(as_text=True)
        assert '<form method="post"' in page and f"Resolve {uuid}" in page
        assert "<script" not in page
        assert resp.headers["Cache-Control"] == "no-store"
    assert len(guance.calls) == calls and guance.modifications == []
    assert guance.comments(uuid) == []


def test_post_acts_once_and_a_used_link_says_so(rt, client, guance, dingtalk, clock):
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    resp = client.post(links["Resolve"], data={"name": "Alice"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert f"Resolved {uuid}" in resp.get_data(as_text=True)
    assert statuses(guance, uuid) == [20]
    assert guance.comments(uuid) == ["Resolved from DingTalk link by Alice"]
    again = client.post(links["Resolve"])
    assert again.status_code == 409 and "already used" in again.get_data(as_text=True)
    assert client.get(links["Resolve"]).status_code == 409
    assert statuses(guance, uuid) == [20] and len(guance.comments(uuid)) == 1
    (logged,) = replylog.recent(rt.engine)  # on the delivery log page's reply log
    assert (logged.issue_uuid, logged.http_status) == (uuid, 200)
    assert b'relay_issue_actions_total{action="resolve",outcome="ok",route="link"} 1.0' in \
        client.get("/metrics").data


def test_claim_link_without_a_name_comments_the_platform(rt, client, guance, dingtalk, clock):
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    assert client.post(links["Claim"]).status_code == 200
    assert guance.comments(uuid) == ["Claimed from DingTalk link"]


def test_a_link_is_useless_for_another_issue_or_action(rt, client, guance, dingtalk, clock):
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    other = guance.add_issue("another one")
    forged = [links["Resolve"].replace(uuid, other), links["Claim"].replace("/claim?", "/resolve?"),
              links["Resolve"].replace("via=DingTalk", "via=WeCom"),
              links["Resolve"][:-4] + "0000", links["Resolve"].split("&s=")[0],
              # an expiry Python's int() would choke on: a superscript digit, 30 digits
              *(re.sub(r"([?&]e=)\d+", rf"\g<1>{e}", links["Resolve"])
                for e in ("%C2%B2", "9" * 30))]
    for url in forged:
        for method in (client.get, client.post):
            resp = method(url)
            assert resp.status_code == 403, (url, resp.status_code)
            assert "not valid" in resp.get_data(as_text=True)
    assert guance.modifications == [] and guance.comments(other) == []


def test_an_expired_link_says_so(rt, client, guance, dingtalk, clock):
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    clock.advance(72 * 3600 + 1)
    for method in (client.get, client.post):
        resp = method(links["Resolve"])
        assert resp.status_code == 410 and "expired" in resp.get_data(as_text=True)
    assert guance.modifications == []


def test_a_refused_or_rate_limited_use_gives_the_link_back(rt, client, guance, dingtalk, clock):
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    guance.faults.append("ratelimit")
    resp = client.post(links["Resolve"])
    assert resp.status_code == 503 and "busy" in resp.get_data(as_text=True)
    assert guance.modifications == []
    clock.advance(61)
    assert client.post(links["Resolve"]).status_code == 200  # tried again by hand
    assert statuses(guance, uuid) == [20]


def test_the_page_escapes_what_it_shows(rt, client, guance, clock):
    uuid = guance.add_issue("x")
    signer = LinkSigner(PUBLIC, SECRET, 72)
    url = signer.url(uuid, "resolve", "<b>x</b>", int(clock.now()))
    page = client.get(urlsplit(url).path + "?" + urlsplit(url).query).get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_links_are_off_without_a_public_url(make_runtime, guance, dingtalk, clock):
    rt = make_runtime(action_link_secret=SECRET, destinations={"ding": ding_url(dingtalk)},
                      routes={"default": "ding"})
    [uuid] = new_issues(rt, guance, clock)
    [body] = dingtalk.for_robot(DING_TOKEN)
    assert "/actions/" not in body["markdown"]["text"]
    signer = LinkSigner(PUBLIC, SECRET, 72)
    resp = create_app(rt).test_client().get(
        signer.url(uuid, "resolve", "DingTalk", int(clock.now())).removeprefix(PUBLIC))
    assert resp.status_code == 404 and guance.modifications == []


def test_every_platform_that_cannot_call_back_gets_links(make_runtime, guance, feishu, wecom,
                                                         clock):
    rt = make_runtime(public_url=PUBLIC, action_link_secret=SECRET, destinations={
        "bot": f"{feishu.url}/open-apis/bot/v2/hook/hook-bot", "wecom": wecom_url(wecom)},
        routes={"default": ["default", "bot", "wecom"]})
    [uuid] = new_issues(rt, guance, clock)
    [flow] = cards(feishu)
    assert flow["resolve_url"].startswith(f"{PUBLIC}/actions/{uuid}/resolve?via=Feishu")
    assert flow["claim_url"].startswith(f"{PUBLIC}/actions/{uuid}/claim?")
    [bot] = cards(feishu, "hook-bot")
    urls = [b.get("url") for e in bot["card"]["elements"] if e.get("tag") == "action"
            for b in e["actions"]]
    assert [u.split("?")[0] for u in urls] == [f"{PUBLIC}/actions/{uuid}/claim",
                                              f"{PUBLIC}/actions/{uuid}/resolve"]
    [message] = wecom.for_robot(WECOM_KEY)
    assert [label for label, _ in LINK.findall(message["markdown"]["content"])] == [
        "Claim", "Resolve"]
    client = create_app(rt).test_client()
    assert client.post(urls[1].removeprefix(PUBLIC)).status_code == 200
    assert guance.comments(uuid) == ["Resolved from Feishu link"]


def test_prune_remembers_a_used_link_as_long_as_it_works(make_runtime, guance, dingtalk, clock):
    from jobs.prune import prune
    from relay.store import actions as action_store

    rt = make_runtime(public_url=PUBLIC, action_link_secret=SECRET, action_link_hours=60 * 24,
                      destinations={"ding": ding_url(dingtalk)}, routes={"default": "ding"})
    client = create_app(rt).test_client()
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    assert client.post(links["Resolve"]).status_code == 200
    clock.advance(31 * 86_400)
    prune(rt, days=30)
    assert client.post(links["Resolve"]).status_code == 409  # still valid, so still used
    assert statuses(guance, uuid) == [20]
    clock.advance(31 * 86_400)  # expired now: forgetting it is safe
    prune(rt, days=30)
    with rt.engine.connect() as conn:
        assert conn.scalar(action_store.select(action_store.ActionUse.key)) is None


def test_a_link_acts_once_across_replicas_on_postgres(make_runtime, postgres_url, guance,
                                                      dingtalk, clock):
    settings = dict(public_url=PUBLIC, action_link_secret=SECRET, database_url=postgres_url,
                    destinations={"ding": ding_url(dingtalk)}, routes={"default": "ding"})
    rt = make_runtime(**settings)
    uuid, links = ding_links(rt, guance, dingtalk, clock)
    other = create_app(make_runtime(**settings)).test_client()  # a second replica
    assert create_app(rt).test_client().post(links["Resolve"]).status_code == 200
    assert other.post(links["Resolve"]).status_code == 409
    assert statuses(guance, uuid) == [20] and len(guance.comments(uuid)) == 1


def test_links_and_mentions_are_on_the_same_robot_cards(make_runtime, guance, dingtalk, wecom,
                                                        clock):
    rt = make_runtime(public_url=PUBLIC, action_link_secret=SECRET, destinations={
        "ding": ding_url(dingtalk), "wecom": wecom_url(wecom)},
        routes={"default": ["ding", "wecom"]},
        mentions={"acnt_lilei": {"name": "Li Lei", "dingtalk": "13800000000",
                                 "wecom": "lilei"}},
        level_mentions={"default": {"P2": ["acnt_lilei"]}})
    new_issues(rt, guance, clock)
    [ding] = dingtalk.for_robot(DING_TOKEN)
    assert [label for label, _ in LINK.findall(ding["markdown"]["text"])] == ["Claim", "Resolve"]
    assert ding["markdown"]["text"].endswith("**Attention:** @13800000000")
    assert ding["at"]["atMobiles"] == ["13800000000"]
    [wx] = wecom.for_robot(WECOM_KEY)
    assert [label for label, _ in LINK.findall(wx["markdown"]["content"])] == ["Claim", "Resolve"]
    assert wx["markdown"]["content"].endswith("**Attention:** <@lilei>")


def test_the_confirmation_page_speaks_relay_language_with_the_page_headers(
        make_runtime, guance, dingtalk, clock):
    rt = make_runtime(language="zh-CN", public_url=PUBLIC, action_link_secret=SECRET,
                      destinations={"ding": ding_url(dingtalk)}, routes={"default": "ding"})
    [uuid] = new_issues(rt, guance, clock)
    [body] = dingtalk.for_robot(DING_TOKEN)
    found = dict(re.findall(r"\[(认领|解决)\]\((https://relay\.example\.com/actions/[^)]+)\)",
                            body["markdown"]["text"]))
    assert set(found) == {"认领", "解决"}
    resp = create_app(rt).test_client().get(found["解决"].removeprefix(PUBLIC))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and '<html lang="zh-CN">' in page
    assert f"确认解决 {uuid}" in page and "你的名字" in page
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Robots-Tag"] == "noindex"


# -- issue 22.9 and 22.10 -------------------------------------------------------------------------

def test_a_far_future_created_at_cannot_make_a_used_link_act_again_after_prune(
        rt, client, guance, dingtalk, clock):
    """Guance listed a createAt years ahead: the link's expiry counted from it outlived the
    memory of its use, so after `prune` the used link acted again. Now it counts from the
    card's send time at the latest."""
    from jobs.prune import prune

    poll(rt)
    clock.advance(30)
    ahead = int(clock.now()) + 5 * 365 * 86400
    uuid = guance.add_issue("disk full", listed_as={"createAt": ahead})
    clock.advance(30)
    poll(rt)
    deliver(rt)
    [body] = dingtalk.for_robot(DING_TOKEN)
    links = {label: url.removeprefix(PUBLIC)
             for label, url in LINK.findall(body["markdown"]["text"])}
    assert client.post(links["Resolve"]).status_code == 200
    clock.advance(31 * 86_400)
    prune(rt, days=30)
    again = client.post(links["Resolve"])
    assert again.status_code == 410 and "expired" in again.get_data(as_text=True)
    assert statuses(guance, uuid) == [20]


def test_a_link_expiring_further_ahead_than_a_link_lives_is_refused(rt, client, guance, clock):
    """A link signed before expiries were capped (from a far-future createAt) works no more."""
    uuid = guance.add_issue("disk full")
    ahead = LinkSigner(PUBLIC, SECRET, 72, clock=lambda: clock.now() + 365 * 86400)
    url = ahead.url(uuid, "resolve", "DingTalk", int(clock.now()) + 365 * 86400)
    resp = client.post(url.removeprefix(PUBLIC))
    assert resp.status_code == 410 and guance.modifications == []


@pytest.mark.parametrize("action", ["close", "reopen"])
def test_only_the_actions_cards_link_are_taken_on_actions(rt, client, guance, clock, action):
    """Cards link Claim and Resolve only: a rightly signed Close or Reopen is refused."""
    uuid = guance.add_issue("disk full")
    url = LinkSigner(PUBLIC, SECRET, 72, clock=clock.now).url(uuid, action, "DingTalk",
                                                              int(clock.now()))
    for method in (client.get, client.post):
        resp = method(url.removeprefix(PUBLIC))
        assert resp.status_code == 403 and "not valid" in resp.get_data(as_text=True)
    assert guance.modifications == [] and guance.comments(uuid) == []


@pytest.mark.parametrize("secret", ["x", "s3cr3t-" + "q" * 24, "短" * 10])  # 31, 30 bytes
def test_a_short_link_secret_stops_start_up_naming_the_setting(clean_env, secret, capsys):
    from relay.cli import main

    clean_env.setenv("RELAY_ACTION_LINK_SECRET", secret)
    clean_env.setenv("RELAY_PUBLIC_URL", PUBLIC)
    assert main(["check"]) != 0
    err = capsys.readouterr().err
    assert "RELAY_ACTION_LINK_SECRET: must be at least 32 bytes" in err
    assert "secrets.token_urlsafe(32)" in err
    assert len(secret) == 1 or secret not in err  # never echoed
