"""`relay sandbox`, DingTalk app robot step: relay reachable from nowhere (no HTTP port served).
A card in the robot's group through the OpenAPI; an @-message and a card button over the Stream
connection relay opened itself, each reaching Guance once (a redelivered click too); the card
updated in place; then the fake drops the connection, then half-opens the next one (its socket
kept, not a byte passed: the peer vanished), and relay is back on its own each time."""

from __future__ import annotations

from pathlib import Path

from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.platforms.dingtalk_app.stream import BOT_MESSAGE_TOPIC, CARD_CALLBACK_TOPIC
from relay.runtime import Runtime
from relay.sandbox.dingtalk_app import FakeDingTalkApp, wait_until, bot_message, card_click
from relay.sandbox.guance import FakeGuance
from relay.sandbox.netfault import FaultyProxy
from relay.sandbox.server import ServerThread
from relay.web.app import create_app

GROUP = "cidSandboxOrders00000001=="
PING_SECONDS = 2.0  # the step's ping interval, short so the half-open part takes seconds


def run_dingtalk_app_step(guance: FakeGuance, guance_url: str, workdir: Path) -> bool:
    """The DingTalk app robot's round trip against the fakes; True when every part worked."""
    import relay.platforms.dingtalk_app.connection as dt_connection

    dingtalk = FakeDingTalkApp()
    server = ServerThread(dingtalk.app)
    proxy = FaultyProxy("127.0.0.1", int(dingtalk.ws_url.rsplit(":", 1)[1].split("/")[0]))
    dingtalk.ws_url = proxy.url()  # the WebSocket through a proxy that can half-open it
    ping, dt_connection.PING_SECONDS = dt_connection.PING_SECONDS, PING_SECONDS
    guance.add_channel("orders")
    settings = Settings(
        _env_file=None, guance_base_url=guance_url, guance_api_key=guance.api_key,
        channels="orders", dingtalk_app_key=dingtalk.app_key,
        dingtalk_app_secret=dingtalk.app_secret, dingtalk_open_base_url=server.url,
        dingtalk_card_template="relay-alert.schema", dingtalk_app_groups={"orders-dt": GROUP},
        routes={"orders": ["orders-dt"]}, database_url=f"sqlite:///{workdir}/relay-dt.db")
    rt = Runtime(settings)
    try:
        create_app(rt)  # what `relay run` starts: here no HTTP port is served at all
        if not dingtalk.wait_connected(1):
            print("   relay did not open the Stream connection")
            return False
        print(f"   relay opened the Stream connection itself (gateway call, then "
              f"{dingtalk.ws_url}); it listens on no port")
        poll(rt)
        issue = guance.add_issue("Order export stuck", ["orders"], level=1,
                                 created_at=rt.clock.now(), message="export-job stalled 20 min")
        poll(rt)
        deliver(rt)
        cards = [t for t, c in dingtalk.cards.items() if c["params"]["issue"] == issue]
        print(f"   interactive card created and delivered into group {GROUP}: "
              f"outTrackId {cards[0] if cards else None}")
        text = f"#{issue}#restarted export-job"
        said = dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, text, dingtalk.app_key))
        wait_until(lambda: guance.comments(issue) and dingtalk.texts_in(GROUP), 30)
        print(f"   an engineer @-mentions the robot ({text!r}) over Stream: acked "
              f"{len(dingtalk.acks.get(said, []))}x; comment in Guance "
              f"{guance.comments(issue)[:1]}; the robot answers {dingtalk.texts_in(GROUP)[:1]}")
        click = dingtalk.push(CARD_CALLBACK_TOPIC, card_click(cards[0], "resolve"))
        wait_until(lambda: len(dingtalk.texts_in(GROUP)) >= 2, 30)
        dingtalk.push_again(click)  # as if DingTalk had missed the ack
        dingtalk.wait_acked(click, 2)
        rt.dingtalk_stream.worker.run_due()  # type: ignore[union-attr]
        resolved = [b for u, b in guance.modifications if u == issue]
        print(f"   the card's Resolve button over Stream (pushed twice): {len(resolved)} change "
              f"in Guance {resolved}; the robot says {dingtalk.texts_in(GROUP)[1:2]}")
        deliver(rt)  # the state change: the card updated in place
        status = dingtalk.cards[cards[0]]["params"]["status"] if cards else None
        print(f"   the card updated in place: status {status!r}")
        dingtalk.drop()
        back = dingtalk.wait_connected(2, timeout=60)
        later = f"#{issue}#export done"
        dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, later, dingtalk.app_key))
        wait_until(lambda: len(guance.comments(issue)) >= 3, 30)
        print(f"   the fake dropped the connection: relay reconnected by itself "
              f"({'yes' if back else 'NO'}), and {later!r} reached Guance "
              f"({len(guance.comments(issue))} comments in all)")
        wait_until(lambda: rt.connections[0].state == "connected", 30)
        proxy.half_open()
        again = dingtalk.wait_connected(3, timeout=60)
        last = f"#{issue}#verified after the half-open"
        dingtalk.push(BOT_MESSAGE_TOPIC, bot_message(GROUP, last, dingtalk.app_key))
        wait_until(lambda: len(guance.comments(issue)) >= 4, 30)
        health = rt.connections[0].health()
        print(f"   the next connection half-opened (ping every {PING_SECONDS:g} s here): relay "
              f"noticed the missing pongs and reconnected ({'yes' if again else 'NO'}); "
              f"/healthz says {health['state']}, {health['reconnects_last_hour']} reconnects, "
              f"last error {health['last_error']!r}")
        return bool(cards and len(cards) == 1 and len(resolved) == 1
                    and guance.comments(issue)[0].startswith("restarted export-job")
                    and status == rt.text("follow.status.20") and back and again
                    and len(guance.comments(issue)) == 4)
    finally:
        rt.close()
        dt_connection.PING_SECONDS = ping
        proxy.stop()
        server.stop()
        dingtalk.stop()
