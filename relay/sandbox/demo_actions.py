"""`relay sandbox`, actions step: a text command, a signed link and a card button acting on fake
issues (claim, resolve, close, reopen from chat), a command refused in a chat the issue's card did
not go to, and a mute that holds back cards only in the chat that muted (a second group still
gets them)."""

from __future__ import annotations

import re
import secrets
import socket
from pathlib import Path

import requests

from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.sandbox.feishu_app import FakeFeishuApp, click_event, message_event, push_event
from relay.sandbox.guance import FakeGuance
from relay.sandbox.robots import FakeDingTalk, robot_url
from relay.sandbox.server import ServerThread, wait_until
from relay.web.app import create_app
from relay.web.server import WebServer
from relay.platforms.registry import build_runtime

CHAT = "oc_sandboxactions0000000000001"
OTHER_CHAT = "oc_sandboxpayments000000000002"  # another team's chat: no ledger card goes there
STATUS = {10: "Open", 15: "Working", 20: "Resolved", 25: "Closed", 30: "Pending"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_actions_step(guance: FakeGuance, guance_url: str, workdir: Path) -> bool:
    """True when the command, the link and the button each changed their issue once."""
    dingtalk, open_api = FakeDingTalk(), FakeFeishuApp()
    servers = [ServerThread(dingtalk.app), ServerThread(open_api.app)]
    port, reply_token = _free_port(), secrets.token_urlsafe(12)
    vtoken, key = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    guance.add_channel("ledger")
    settings = Settings(
        _env_file=None, guance_base_url=guance_url, guance_api_key=guance.api_key,
        channels="ledger", reply_token=reply_token, public_url=f"http://127.0.0.1:{port}",
        action_link_secret=secrets.token_urlsafe(32),
        destinations={"ledger-ding": robot_url(servers[0].url, "dingtalk", "ledger0005")},
        feishu_app_id=open_api.app_id, feishu_app_secret=open_api.app_secret,
        feishu_verification_token=vtoken, feishu_encrypt_key=key,
        feishu_open_base_url=servers[1].url, feishu_app_chats={"ledger-app": CHAT,
                                                              "payments-app": OTHER_CHAT},
        routes={"ledger": ["ledger-ding", "ledger-app"]},
        database_url=f"sqlite:///{workdir}/relay-actions.db")
    rt = build_runtime(settings)
    web = WebServer(create_app(rt), "127.0.0.1", port).start()

    def status(uuid: str) -> str:
        return STATUS.get(guance.issue(uuid)["statusType"], "?")

    try:
        poll(rt)
        now = rt.clock.now()
        by_text = guance.add_issue("Ledger export failed", ["ledger"], created_at=now,
                                   message="nightly export exited 1")
        by_link = guance.add_issue("Ledger DB replica lag 40 s", ["ledger"], level=1,
                                   created_at=now, message="replica-2 lagging")
        by_button = guance.add_issue("Ledger API 5xx", ["ledger"], level=0, created_at=now,
                                     message="5xx 3% on ledger-api")
        poll(rt)
        deliver(rt)

        text = f"@relay #{by_text}#/resolve re-ran the export by hand"
        print(f"   a text command through the Feishu flow: {text!r}")
        resp = requests.post(f"{web.url}/feishu/reply", timeout=10, json={
            "content": text, "sender": "Wang Fang"}, headers={
            "Authorization": f"Bearer {reply_token}"})
        print(f"   POST /feishu/reply → {resp.status_code}: {resp.json().get('said')!r}")
        print(f"   {by_text}: status {status(by_text)}, comments {guance.comments(by_text)}")
        ok_text = status(by_text) == "Resolved" and len(guance.comments(by_text)) == 1

        card = next(b for b in dingtalk.for_robot("ledger0005")
                    if by_link in b["markdown"]["text"])
        labels = {rt.text(f"action.label_{a}"): a for a in ("claim", "resolve")}
        link = {labels[label]: url for label, url in re.findall(
            r"\[([^\]]+)\]\((http[^)]+/actions/[^)]+)\)", card["markdown"]["text"])}
        print(f"   the DingTalk card carries signed links: Resolve → {link['resolve'][:70]}…")
        page = requests.get(link["resolve"], timeout=10)
        print(f"   GET (what a link preview does) → {page.status_code}, a confirmation page; "
              f"{by_link} still {status(by_link)}")
        ok_link = page.status_code == 200 and status(by_link) == "Open"
        done = requests.post(link["resolve"], timeout=10)
        again = requests.post(link["resolve"], timeout=10)
        print(f"   POST (its button) → {done.status_code}; {by_link}: status {status(by_link)}, "
              f"comments {guance.comments(by_link)}; the same link again → {again.status_code}")
        ok_link = (ok_link and done.status_code == 200 and again.status_code == 409
                   and status(by_link) == "Resolved" and len(guance.comments(by_link)) == 1)

        card_id = next(m["message_id"] for m in open_api.in_chat(CHAT)
                       if by_button in str(m["content"]))
        event = click_event(vtoken, CHAT, card_id, {"relay_action": "resolve",
                                                    "issue": by_button})
        resp = push_event(f"{web.url}/feishu/events", event, key, rt.clock.now())
        print(f"   the Resolve button on the app-bot card, clicked: toast "
              f"{resp.json()['toast']['content']!r}")
        answered = wait_until(lambda: open_api.texts_replying_to(card_id), 10.0)
        answer = open_api.texts_replying_to(card_id)
        print(f"   the bot answers in the card's thread: {answer[0] if answer else None!r}")
        print(f"   {by_button}: status {status(by_button)}, comments "
              f"{guance.comments(by_button)}")
        ok_button = answered and status(by_button) == "Resolved"

        other = message_event(vtoken, OTHER_CHAT, f"#{by_text}#/reopen",
                              mention_bot=open_api.bot_open_id)
        push_event(f"{web.url}/feishu/events", other, key, rt.clock.now())
        asked = other["event"]["message"]["message_id"]
        wait_until(lambda: open_api.texts_replying_to(asked), 10.0)
        refused = open_api.texts_replying_to(asked)
        print(f"   '/reopen' on {by_text} from another team's chat (its card did not go there): "
              f"{refused[0] if refused else None!r}; still {status(by_text)}")
        ok_button = ok_button and bool(refused) and status(by_text) == "Resolved"

        text = f"#{by_text}#/mute 1h noisy while we migrate"
        resp = requests.post(f"{web.url}/feishu/reply", timeout=10, json={"content": text},
                             headers={"Authorization": f"Bearer {reply_token}"})
        print(f"   {text!r} through the flow → {resp.status_code}: {resp.json().get('said')!r}")
        text_card = next(m["message_id"] for m in open_api.in_chat(CHAT)
                         if by_text in str(m["content"]))
        event = message_event(vtoken, CHAT, "/mute 1h noisy while we migrate",
                              root_id=text_card, mention_bot=open_api.bot_open_id)
        push_event(f"{web.url}/feishu/events", event, key, rt.clock.now())
        asked = event["event"]["message"]["message_id"]
        wait_until(lambda: open_api.texts_replying_to(asked), 10.0)
        said = open_api.texts_replying_to(asked)
        print(f"   '@relay /mute 1h' in the app chat's thread → {said[0] if said else None!r}")
        in_chat, in_ding = len(open_api.in_chat(CHAT)), len(dingtalk.for_robot("ledger0005"))
        held = guance.add_issue("Ledger export slow", ["ledger"], created_at=rt.clock.now())
        poll(rt)
        deliver(rt)
        # the muting chat: its notice, never the new card; the DingTalk group: the card
        muted = not any(held in str(m) for m in open_api.in_chat(CHAT)[in_chat:])
        still = any(held in str(m) for m in dingtalk.for_robot("ledger0005")[in_ding:])
        print(f"   a new issue of the same source ({held}): held back in the app chat: {muted}; "
              f"still sent to the DingTalk group, which did not mute: {still}")
        muted = muted and still and resp.status_code == 400
        return bool(ok_text and ok_link and ok_button and muted)
    finally:
        web.stop()
        rt.close()
        for server in servers:
            server.stop()
