"""`relay sandbox`: the whole round trip against the local fakes, no account needed."""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
from pathlib import Path

import requests

from jobs import JOBS
from relay.config import Settings
from relay.pipeline.schedule import parse_crontab
from relay.runtime import Runtime, stop_on_signals
from relay.sandbox.demo_actions import run_actions_step
from relay.sandbox.demo_app_bot import run_app_bot_step
from relay.sandbox.demo_dingtalk_app import run_dingtalk_app_step
from relay.sandbox.demo_follow import run_follow_step
from relay.sandbox.demo_remind import run_remind_step
from relay.sandbox.feishu import FakeFeishu, card_texts
from relay.sandbox.guance import FakeGuance
from relay.sandbox.robots import FakeDingTalk, FakeWeCom, robot_url
from relay.sandbox.server import ServerThread
from relay.web.app import create_app
from relay.web.server import WebServer


HOSTILE = '<at id=all></at> @所有人 [点我](http://evil)'


def pings_nobody(bodies: list[dict]) -> bool:
    """No <at …> tag or link of the issue's own is live in a lark_md or markdown text."""
    def live(node: object) -> bool:
        if isinstance(node, dict):
            if node.get("tag") in ("lark_md", "markdown") and (
                    "<at" in str(node.get("content")) or "](http://evil)" in str(
                        node.get("content"))):
                return True
            return any(live(v) for v in node.values())
        return isinstance(node, list) and any(live(v) for v in node)
    return bool(bodies) and not any(live(body.get("card")) for body in bodies)


def show_card(hook: str, body: dict) -> None:
    """Print what the fake Feishu received: flow params, or a custom bot's signed card."""
    if "card" in body:
        print(f"  ┌ Feishu custom bot '{hook}' received a signed card (sign {body['sign'][:8]}…)")
        for text in card_texts(body["card"]):
            for line in text.splitlines():
                print(f"  │ {line}")
        print("  └")
        return
    print(f"  ┌ Feishu flow '{hook}' received a card")
    print(f"  │ [{body['level']}] {body['title']}")
    print(f"  │ source: {body['source']}   created: {body['createAt']}")
    print(f"  │ {body['message']}")
    print(f"  └ issue {body['issue_uuid']}")


def run_sandbox(crontab: Path | None = None, keep: bool = False) -> int:
    guance = FakeGuance(api_key=secrets.token_hex(8))
    feishu = FakeFeishu(on_receive=show_card)
    servers = [ServerThread(guance.app), ServerThread(feishu.app)]
    g_url, f_url = servers[0].url, servers[1].url
    guance.add_channel("payments")
    guance.add_channel("search")
    reply_token = secrets.token_urlsafe(16)
    bot_secret = secrets.token_urlsafe(12)
    feishu.bot_secrets["search0002"] = bot_secret
    with tempfile.TemporaryDirectory(prefix="relay-sandbox-") as tmp:
        settings = Settings(
            _env_file=None, guance_base_url=g_url, guance_api_key=guance.api_key,
            channels="payments,search", reply_token=reply_token,
            destinations={"payments-oncall": f"{f_url}/flow/api/trigger-webhook/payments0001",
                          "search-team": f"{f_url}/open-apis/bot/v2/hook/search0002"},
            feishu_bot_secrets={"search-team": bot_secret},
            routes={"payments": ["payments-oncall"], "search": ["search-team"]},
            database_url=f"sqlite:///{tmp}/relay.db",
            ui_token=secrets.token_urlsafe(12) if keep else None)
        rt = Runtime(settings)
        web = WebServer(create_app(rt), "127.0.0.1", 0).start()
        try:
            print(f"relay sandbox: fake Guance {g_url}, fake Feishu {f_url}, reply endpoint "
                  f"{web.url}")
            if crontab is not None:
                entries = parse_crontab(crontab, JOBS, settings.tz)
                print(f"crontab {crontab}: " + ", ".join(f"{e.job} at '{e.schedule}'"
                                                          for e in entries))
            print("\n1. first poll: relay starts watching from now")
            JOBS["poll_issues"](rt)
            now = rt.clock.now()
            first = guance.add_issue("Payment API error rate above 5%", ["payments"],
                                     level="system_level_0", created_at=now,
                                     message="5xx ratio 7.2% on pay-gateway for 5 min")
            guance.add_issue("Checkout latency p99 > 2s", ["payments"], level=1,
                             created_at=now, message="p99 2.4 s on checkout-svc")
            # text from outside that tries to page everyone: it must arrive as text
            guance.add_issue(f"Search index lagging {HOSTILE}", ["search"],
                             level="system_level_2", created_at=now,
                             message=f"indexer 14 min behind; its log says: {HOSTILE}")
            print("   seeded 3 new issues: 2 in 'payments', 1 in 'search'")
            print("\n2. next poll: each new issue becomes a card in its channel's group")
            JOBS["poll_issues"](rt)
            print("\n3. poll again: the overlap re-reads the same issues; none is sent twice")
            JOBS["poll_issues"](rt)
            print(f"   cards received in all: {len(feishu.received)}")
            inert = pings_nobody(feishu.for_hook("search0002"))
            print(f"   the 'search' card's title and message carry {HOSTILE!r}: shown as text "
                  f"(lark_md as entities, the plain_text header as written), "
                  f"{'@-mentioning nobody' if inert else 'LIVE MARKUP'}")

            text = f"@relay #{first}#Rolled back release 2026.11.3; error rate back to 0.1% #ops"
            print(f"\n4. an engineer replies in Feishu: {text!r}")
            resp = requests.post(f"{web.url}/feishu/reply", json={"content": text},
                                 headers={"Authorization": f"Bearer {reply_token}"}, timeout=10)
            print(f"   POST /feishu/reply → {resp.status_code} {json.dumps(resp.json())}")
            print(f"   comments on {first} in Guance: {guance.comments(first)}")
            ok = (resp.status_code == 200 and len(feishu.received) == 3 and inert
                  and guance.comments(first) == [text.split("#", 2)[2]])
            ok = run_robots(guance, g_url, tmp) and ok  # DingTalk and WeCom
            print("\n7. Feishu app bot: card by IM API, reply in its thread, notification back")
            ok = run_app_bot_step(guance, g_url, Path(tmp)) and ok
            ok = run_follow_step(guance, g_url, Path(tmp)) and ok
            print("\n10. acting on issues from chat: a text command, a signed link, a card "
                  "button, a mute")
            ok = run_actions_step(guance, g_url, Path(tmp)) and ok
            print("\n11. DingTalk app robot over Stream, relay reachable from nowhere: a card, "
                  "an @-message and a button, a dropped connection")
            ok = run_dingtalk_app_step(guance, g_url, Path(tmp)) and ok
            print("\n12. reminders: three P2 issues nobody claims get one reminder digest")
            ok = run_remind_step(guance, g_url, Path(tmp)) and ok
            if keep:
                keep_running(rt, web.url, [g_url, f_url], first, crontab, ok)
        finally:
            web.stop()
            rt.close()
            for server in servers:
                server.stop()
    print("\nsandbox OK: every card delivered once, the replies landed on the issues" if ok
          else "\nsandbox FAILED: see above")
    return 0 if ok else 1


def show_robot(platform: str):
    """Print what a fake DingTalk or WeCom robot received: the markdown text."""
    def show(robot: str, body: dict) -> None:
        part = body.get(body["msgtype"], {})
        print(f"  ┌ {platform} robot '{robot}' received a {body['msgtype']} message")
        for line in str(part.get("text") or part.get("content") or "").splitlines():
            if line.strip():
                print(f"  │ {line}")
        print("  └")
    return show


def run_robots(guance: FakeGuance, guance_url: str, tmp: str) -> bool:
    """A channel routed to a signed DingTalk robot and a WeCom robot, and a reply through the
    DingTalk outgoing robot; True when each robot got the card once and the comment landed."""
    dingtalk, wecom = FakeDingTalk(on_receive=show_robot("DingTalk")), FakeWeCom(
        on_receive=show_robot("WeCom"))
    servers = [ServerThread(dingtalk.app), ServerThread(wecom.app)]
    dingtalk.url = servers[0].url  # where its callbacks' sessionWebhook points
    ding_secret, app_secret = "SEC" + secrets.token_hex(16), secrets.token_urlsafe(16)
    dingtalk.secrets["refunds0003"] = ding_secret
    guance.add_channel("refunds")
    settings = Settings(
        _env_file=None, guance_base_url=guance_url, guance_api_key=guance.api_key,
        channels="refunds", dingtalk_app_secret=app_secret, dingtalk_session_origins=dingtalk.url,
        destinations={"refunds-ding": {"type": "dingtalk", "secret": ding_secret,
                                       "url": robot_url(servers[0].url, "dingtalk",
                                                        "refunds0003")},
                      "refunds-wecom": robot_url(servers[1].url, "wecom", "refunds0004")},
        routes={"refunds": ["refunds-ding", "refunds-wecom"]},
        database_url=f"sqlite:///{tmp}/robots.db")
    rt = Runtime(settings)
    web = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        print("\n5. channel 'refunds' goes to a signed DingTalk robot and a WeCom robot")
        JOBS["poll_issues"](rt)
        issue = guance.add_issue("Refund queue backing up", ["refunds"], level="system_level_1",
                                 created_at=rt.clock.now(), message="2,300 refunds waiting")
        JOBS["poll_issues"](rt)
        text = f"#{issue}#Scaled refund workers to 8"
        print(f"\n6. an engineer @-mentions the DingTalk robot: {text!r}")
        resp = dingtalk.mention(f"{web.url}/dingtalk/reply", app_secret, text)
        print(f"   POST /dingtalk/reply → {resp.status_code}; the robot answers in the group, "
              f"once (in the HTTP answer, not again through the sessionWebhook): "
              f"{resp.json()['text']['content']!r}")
        return (len(dingtalk.received) == 1 and len(wecom.received) == 1
                and not dingtalk.session_answers
                and guance.comments(issue) == ["Scaled refund workers to 8"])
    finally:
        web.stop()
        rt.close()
        for server in servers:
            server.stop()


def keep_running(rt: Runtime, url: str, fakes: list[str], issue: str, crontab: Path | None,
                 ok: bool) -> None:
    """`relay sandbox --keep`: the fakes and relay stay up (scheduled from the crontab, so the
    health stays green) until Ctrl-C or SIGTERM, with what to open and a curl to try."""
    from relay.pipeline.schedule import build_scheduler

    stopped = threading.Event()
    stop_on_signals(rt, then=stopped.set)  # a job running then ends at once, as in `relay run`
    scheduler = None
    if crontab is not None:
        scheduler = build_scheduler(parse_crontab(crontab, JOBS, rt.settings.tz), JOBS, rt,
                                    rt.settings.tz)
        scheduler.start()
    token = rt.settings.reply_token.get_secret_value()
    body = json.dumps({"content": f"#{issue}#tried it from curl"})
    print(f"\nwalk-through {'OK' if ok else 'FAILED'}; relay and the fakes keep running "
          f"(Ctrl-C stops them):")
    print(f"  delivery log page  {url}/?token={rt.settings.ui_token.get_secret_value()}")
    print(f"  health             {url}/healthz")
    print(f"  metrics            {url}/metrics")
    print(f"  reply endpoint     POST {url}/feishu/reply")
    print(f"  fake Guance {fakes[0]}, fake Feishu {fakes[1]}")
    print(f"try:\n  curl -s -H 'Authorization: Bearer {token}' -H 'Content-Type: "
          f"application/json' -d '{body}' {url}/feishu/reply", flush=True)
    try:
        stopped.wait()
        print("\nstopping", flush=True)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
