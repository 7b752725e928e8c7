"""`relay sandbox`, Feishu long-connection step: the app bot with relay reachable from nowhere (no
HTTP port served, no Verification Token, no Encrypt Key). relay makes the endpoint call and opens
the WebSocket itself; a thread reply and a card button arrive over it (the click pushed twice, as
Feishu does when it misses the answer) and each reaches Guance once; then the fake drops the
connection, later half-opens the next one (open, nothing passing), and relay is back each time
on its own."""

from __future__ import annotations

import time
from pathlib import Path

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.platforms.registry import build_runtime
from relay.sandbox.feishu_app import FakeFeishuApp, click_event, message_event
from relay.sandbox.server import wait_until
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread
from relay.config import Settings
from relay.web.app import create_app

CHAT = "oc_sandboxlongconn000000000001"


def run_feishu_long_step(guance: FakeGuance, guance_url: str, workdir: Path) -> bool:
    """The long connection's round trip against the fakes; True when every part worked."""
    open_api = FakeFeishuApp()
    long = open_api.listen(ping_interval=1, reconnect_nonce=0)  # 120 s on Feishu: 1 s here
    server = ServerThread(open_api.app)
    guance.add_channel("storage")
    settings = Settings(
        _env_file=None, guance_base_url=guance_url, guance_api_key=guance.api_key,
        channels="storage", feishu_app_id=open_api.app_id, feishu_app_secret=open_api.app_secret,
        feishu_events="long", feishu_open_base_url=server.url,
        feishu_app_chats={"storage-app": CHAT}, routes={"storage": ["storage-app"]},
        database_url=f"sqlite:///{workdir}/relay-feishu-long.db")
    rt = build_runtime(settings)
    try:
        create_app(rt)  # what `relay run` starts: here no HTTP port is served at all
        if not long.wait_connected(1):
            print("   relay did not open the long connection")
            return False
        print(f"   relay made the endpoint call and opened {long.ws_url} itself; it listens "
              "on no port, and has no Verification Token or Encrypt Key")
        poll(rt)
        issue = guance.add_issue("Ceph OSD 12 down", ["storage"], level=1,
                                 created_at=rt.clock.now(), message="osd.12 heartbeat lost")
        poll(rt)
        deliver(rt)
        cards = [m for m in open_api.in_chat(CHAT) if issue in str(m["content"])]
        card_id = cards[0]["message_id"] if cards else ""
        print(f"   card sent through the IM API into {CHAT}: message_id {card_id or None}")
        text = "replaced the disk, osd.12 rejoining"
        event = message_event("", CHAT, text, root_id=card_id, mention_bot=open_api.bot_open_id)
        said = long.push(event, parts=2)
        user_msg = event["event"]["message"]["message_id"]
        wait_until(lambda: guance.comments(issue) and open_api.replies_to(user_msg), 30)
        print(f"   an engineer answers in the card's thread (@relay {text!r}), in 2 frames: "
              f"answered {long.answer(said) if long.responses.get(said) else None}; comment "
              f"in Guance {guance.comments(issue)[:1]}")
        started = time.monotonic()
        click = long.push(click_event("", CHAT, card_id, {"relay_action": "resolve",
                                                          "issue": issue}))
        long.wait_answered(click)
        took = (time.monotonic() - started) * 1000
        long.push_again(click)  # as if Feishu had missed the answer
        long.wait_answered(click, 2)
        wait_until(lambda: len(open_api.replies_to(card_id)) >= 1, 30)
        toast = long.answer(click).get("data", {}).get("toast", {}).get("content")
        resolved = [b for u, b in guance.modifications if u == issue]
        print(f"   the card's Resolve button (pushed twice): toast {toast!r} in {took:.0f} ms; "
              f"{len(resolved)} change in Guance {resolved}")
        long.drop()
        back = long.wait_connected(2, timeout=30)
        long.half_open()
        started = time.monotonic()
        back_again = long.wait_connected(3, timeout=30)
        deaf = time.monotonic() - started
        later = "osd.12 back in, cluster HEALTH_OK"
        long.push(message_event("", CHAT, later, root_id=card_id,
                                mention_bot=open_api.bot_open_id))
        wait_until(lambda: len(guance.comments(issue)) >= 3, 30)
        print(f"   the fake dropped the connection: relay reconnected by itself "
              f"({'yes' if back else 'NO'}); then half-opened the next (open, nothing passing): "
              f"replaced after {deaf:.1f} s ({'yes' if back_again else 'NO'}, pings every 1 s); "
              f"{later!r} reached Guance ({len(guance.comments(issue))} comments in all)")
        return bool(cards and len(cards) == 1 and guance.comments(issue)
                    and guance.comments(issue)[0].startswith(text) and len(resolved) == 1
                    and toast and back and back_again and len(guance.comments(issue)) == 3)
    finally:
        rt.close()
        server.stop()
        long.stop()
