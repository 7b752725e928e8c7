"""`relay sandbox`, app-bot step: a card through the IM API, a signed and encrypted reply in its
thread becoming a Guance comment, the bot's answer, and a Guance reply notified back."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.notify_replies import notify_replies
from relay.pipeline.poll import poll
from relay.sandbox.feishu_app import FakeFeishuApp, message_event, push_event
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread, wait_until
from relay.web.app import create_app
from relay.web.server import WebServer
from relay.platforms.registry import build_runtime

CHAT = "oc_sandboxpayments0000000000001"


def run_app_bot_step(guance: FakeGuance, guance_url: str, workdir: Path) -> bool:
    """The app-bot round trip against the fakes; True when every part of it worked."""
    open_api = FakeFeishuApp()
    server = ServerThread(open_api.app)
    token, key = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    settings = Settings(
        _env_file=None, guance_base_url=guance_url, guance_api_key=guance.api_key,
        channels="payments", feishu_app_id=open_api.app_id,
        feishu_app_secret=open_api.app_secret, feishu_verification_token=token,
        feishu_encrypt_key=key, feishu_open_base_url=server.url,
        feishu_app_chats={"payments-app": CHAT}, routes={"payments": ["payments-app"]},
        database_url=f"sqlite:///{workdir}/relay-app-bot.db")
    rt = build_runtime(settings)
    web = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        poll(rt)
        issue = guance.add_issue("Refund queue backlog > 1000", ["payments"], level=1,
                                 created_at=rt.clock.now(), message="refund-worker stalled")
        poll(rt)
        deliver(rt)
        cards = [m for m in open_api.in_chat(CHAT) if issue in str(m["content"])]
        if len(cards) != 1:
            print(f"   {len(cards)} cards of {issue} reached the app chat, not 1")
            return False
        card_id = cards[0]["message_id"]
        print(f"   card sent through the IM API to chat {CHAT}: message_id {card_id}")
        text = "scaled refund-worker to 4 replicas"
        event = message_event(token, CHAT, text, root_id=card_id,
                              mention_bot=open_api.bot_open_id)
        started = time.monotonic()
        resp = push_event(f"{web.url}/feishu/events", event, key, rt.clock.now())
        took = (time.monotonic() - started) * 1000
        print(f"   an engineer answers in the card's thread (@relay {text!r}), encrypted and "
              f"signed: POST /feishu/events → {resp.status_code} in {took:.0f} ms")
        user_msg = event["event"]["message"]["message_id"]
        landed = wait_until(lambda: guance.comments(issue) and open_api.replies_to(user_msg), 10.0)
        comment = guance.comments(issue)[0] if guance.comments(issue) else None
        answer = open_api.texts_replying_to(user_msg)
        print(f"   comment on {issue} in Guance: {comment!r}")
        print(f"   the bot answers in the thread: {answer[0] if answer else None!r}")
        one_comment = len(guance.comments(issue)) == 1
        notify_replies(rt)  # the first check of the issue
        guance.add_reply(issue, "Thanks, backlog draining now", author="Li Lei")
        notify_replies(rt)
        notes = [t for t in open_api.texts_replying_to(card_id)]
        print(f"   a reply written in Guance is posted into the thread: {notes}")
        return bool(resp.status_code == 200 and landed and comment and comment.startswith(text)
                    and one_comment
                    and notes == [rt.text("notify.replied", who="Li Lei",
                                          content="Thanks, backlog draining now")])
    finally:
        web.stop()
        rt.close()
        server.stop()
