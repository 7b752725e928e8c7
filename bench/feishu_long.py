"""The Feishu app bot over its long connection beside the HTTP callback path, and what both long
connections (Feishu's and DingTalk's Stream) cost together in one relay process.

This process holds the fakes (Guance, the Feishu open platform with its long connection, the
DingTalk app's gateway and Stream) and measures; relay runs in children as `relay serve` does
(create_app opens the connections; WebServer serves /feishu/events), so the RSS and CPU read
from /proc are relay's alone. Each child first relays the 20 issues as cards (its own database),
so the events below are real thread replies in a card's thread.

* events: thread replies (`ev-<path>-<n> checked`, @bot, root_id = the card) pushed over the long
  connection at RATE a second for SECONDS, by a child with both connections open (RELAY_FEISHU_
  EVENTS=long plus the DingTalk app robot); then the same load POSTed, encrypted and signed as
  Feishu does, to /feishu/events of a second child (RELAY_FEISHU_EVENTS=http; the two modes are
  one per process); each from its push or POST to the comment reaching the fake Guance; lost
  and doubled counted from the fake Guance's comments.
* back after close: the fake closes the connection (1011) DROPS times, each after a stable
  connection (relay's stable period shortened to STABLE_SECONDS); each from the close to the next
  connection open; one reply pushed after each, which must reach Guance once. The fake asks for
  no extra jitter (ReconnectNonce 0); a real Feishu's ReconnectNonce adds up to that many seconds.
* half-open: a third child, the fake's ClientConfig asking for a ping every HALF_OPEN_PING s; the
  fake stops answering (and reading) one connection but keeps its socket, HALF_OPENS times; each
  from the freeze to the next connection, in ping intervals (target ≤ 3).
* both open: the first child's peak RSS (VmHWM, after the load) and CPU over IDLE_SECONDS idle,
  at the platforms' own ping intervals (Feishu's ClientConfig 120 s, relay's Stream 20 s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.common import Arrivals, RelayChild, hand_back, percentile
from relay.sandbox.server import wait_until as wait_for
from relay.clock import Clock

CHAT, GROUP = "oc_benchchat000000000000000001", "cidBenchGroup000000001=="
RATE, SECONDS, DROPS, HALF_OPENS, IDLE_SECONDS = 20, 60, 20, 3, 20
QUICK = dict(seconds=3, drops=2, half_opens=1, idle=3)
FEISHU_PING, STABLE_SECONDS, HALF_OPEN_PING = 120, 3.0, 2
TARGET_P99_MS, TARGET_BACK_S, TARGET_DEAF_PINGS = 200.0, 5.0, 3.0
TARGET_RSS_MB, TARGET_IDLE_CPU = 150.0, 1.0
API_KEY, VTOKEN, EKEY = "bench-api-key-0123456789", "bench-verification-tok", "bench-encrypt-k"


def serve(args: argparse.Namespace) -> None:
    """The child: relay as `relay serve` runs it; the cards sent first, their ids handed back."""
    import logging

    from sqlalchemy import select

    import relay.connections.loop as loop
    from relay.config import Settings
    from relay.pipeline.deliver import deliver
    from relay.pipeline.poll import poll
    from relay.platforms.registry import build_runtime
    from relay.store.outbox import Delivery
    from relay.web.app import create_app
    from relay.web.server import WebServer

    logging.getLogger("relay").setLevel(logging.ERROR)
    logging.getLogger("waitress").setLevel(logging.ERROR)
    loop.STABLE_SECONDS = args.stable
    tmp = tempfile.TemporaryDirectory(prefix="bench-feishu-long-")
    values = dict(
        _env_file=None, guance_base_url=args.guance, guance_api_key=API_KEY,
        guance_calls_per_minute=10_000_000, feishu_app_id=args.app_id,
        feishu_app_secret=args.app_secret, feishu_open_base_url=args.feishu,
        feishu_app_chats={"ops-chat": CHAT}, routes={"default": ["ops-chat"]},
        storm_threshold=100,  # one card per issue, so each reply has its card's thread
        feishu_events=args.mode, database_url=f"sqlite:///{tmp.name}/relay.db")
    if args.mode == "http":
        values.update(feishu_verification_token=VTOKEN, feishu_encrypt_key=EKEY)
    if args.dingtalk:
        values.update(dingtalk_app_key=args.dt_key, dingtalk_app_secret=args.dt_secret,
                      dingtalk_open_base_url=args.dingtalk, dingtalk_app_groups={"ops-dt": GROUP},
                      dingtalk_card_template="bench.schema")
    rt = build_runtime(Settings(**values))
    poll(rt, since=int(time.time()) - 3600)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and deliver(rt).sent:
        pass
    with rt.engine.connect() as conn:
        cards = dict(conn.execute(select(Delivery.issue_uuid, Delivery.message_id)).all())
    web = WebServer(create_app(rt), "127.0.0.1", 0).start()
    print(json.dumps({"url": web.url, "cards": cards}), flush=True)
    sys.stdin.read()
    web.stop()
    rt.close()


class Relay(RelayChild):
    """A relay child taking the Feishu app bot's events in `mode` (long / http)."""

    def __init__(self, mode: str, guance: str, open_api, ding=None) -> None:
        extra = ["--dingtalk", ding.url, "--dt-key", ding.app_key, "--dt-secret",
                 ding.app_secret] if ding else []
        super().__init__("bench.feishu_long", "--mode", mode, "--guance", guance, "--feishu",
                         open_api.url, "--app-id", open_api.app_id, "--app-secret",
                         open_api.app_secret, "--stable", repr(STABLE_SECONDS), *extra)
        self.url, self.cards = self.hello["url"], self.hello["cards"]


def thread_reply(open_api, text: str, card_id: str) -> dict:
    from relay.sandbox.feishu_app import message_event

    return message_event("", CHAT, text, root_id=card_id, mention_bot=open_api.bot_open_id)


def send_events(path: int, count: int, issues: list[str], seen, open_api, relay: Relay) -> dict:
    """`count` thread replies at RATE a second, over the long connection (path 0) or POSTed to
    /feishu/events (path 1): latency to the Guance comment, lost, doubled."""
    from relay.sandbox.feishu_app import encrypt

    long = open_api.long
    session = requests.Session()
    sent: dict[str, float] = {}

    def post(event: dict) -> None:
        event["header"]["token"] = VTOKEN
        body = json.dumps({"encrypt": encrypt(EKEY, json.dumps(event))}).encode()
        ts, nonce = str(int(time.time())), uuidlib.uuid4().hex[:16]
        sig = hashlib.sha256((ts + nonce + EKEY).encode() + body).hexdigest()
        session.post(f"{relay.url}/feishu/events", data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": sig})

    pool = ThreadPoolExecutor(8)
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / RATE - time.monotonic()))
        key = f"ev-{path}-{i}"
        event = thread_reply(open_api, f"{key} checked", relay.cards[issues[i % len(issues)]])
        sent[key] = time.monotonic()
        if path == 0:
            long.push(event)
        else:
            pool.submit(post, event)
    wait_for(lambda: all(k in seen for k in sent), 60)
    pool.shutdown(wait=True)
    latencies = [(seen[k][0] - t) * 1000 for k, t in sent.items() if k in seen]
    return {"events": count, "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "lost": sum(k not in seen for k in sent),
            "doubled": sum(len(seen.get(k, [])) > 1 for k in sent)}


def back_after_close(open_api, relay: Relay, issues: list[str], seen, drops: int) -> dict:
    long = open_api.long
    backs, keys = [], []
    for n in range(drops):
        count = len(long.connections)
        time.sleep(STABLE_SECONDS + 0.2)  # the connection is stable: a real server's close
        closed = time.monotonic()
        long.drop()
        if long.wait_connected(count + 1, timeout=60):
            backs.append(time.monotonic() - closed)
        keys.append(f"ev-2-{n}")
        long.push(thread_reply(open_api, f"{keys[-1]} after the close",
                               relay.cards[issues[n % len(issues)]]))
    wait_for(lambda: all(k in seen for k in keys), 30)
    return {"back_p50_s": percentile(backs, 0.5), "back_p99_s": percentile(backs, 0.99),
            "back_samples": len(backs), "back_missing": drops - len(backs),
            "after_close_lost": sum(k not in seen for k in keys),
            "after_close_doubled": sum(len(seen.get(k, [])) > 1 for k in keys)}


def deafness(long, half_opens: int) -> list[float]:
    deaf = []
    for _ in range(half_opens):
        count = len(long.connections)
        time.sleep(STABLE_SECONDS + HALF_OPEN_PING)  # a pong went back and forth meanwhile
        frozen = time.monotonic()
        long.half_open()
        if long.wait_connected(count + 1, timeout=10 * HALF_OPEN_PING):
            deaf.append((time.monotonic() - frozen) / HALF_OPEN_PING)
    return deaf


def run(seconds: int = SECONDS, drops: int = DROPS, half_opens: int = HALF_OPENS,
        idle: float = IDLE_SECONDS) -> dict:
    import logging

    from relay.sandbox.dingtalk_app import FakeDingTalkApp
    from relay.sandbox.feishu_app import FakeFeishuApp
    from relay.sandbox.guance import FakeGuance
    from relay.web.server import WebServer

    logging.getLogger("waitress").setLevel(logging.ERROR)
    guance, open_api = FakeGuance(API_KEY, clock=Clock()), FakeFeishuApp(clock=Clock())
    ding = FakeDingTalkApp(clock=Clock())
    long = open_api.listen(ping_interval=FEISHU_PING, reconnect_nonce=0)
    servers = [WebServer(app, "127.0.0.1", 0).start()
               for app in (guance.app, open_api.app, ding.app)]
    open_api.url, ding.url = servers[1].url, servers[2].url
    seen: dict[str, list[float]] = {}
    issues = [guance.add_issue(f"bench alert {i}") for i in range(20)]
    for issue in issues:
        guance.replies[issue] = Arrivals(seen)
    result: dict = {"rate": RATE, "seconds": seconds}
    count = RATE * seconds
    try:
        relay = Relay("long", servers[0].url, open_api, ding)
        try:
            assert long.wait_connected(1, 60) and wait_for(ding.open_connections, 60), \
                "relay did not open both connections"
            result["cards"] = len(relay.cards)
            idle_from, cpu_from = time.monotonic(), relay.cpu_seconds()
            time.sleep(idle)  # measuring an idle process: nothing to wait on
            result["idle_cpu_percent"] = 100 * (relay.cpu_seconds() - cpu_from) / (
                time.monotonic() - idle_from)
            result["long"] = send_events(0, count, issues, seen, open_api, relay)
            result.update(back_after_close(open_api, relay, issues, seen, drops))
            result["peak_rss_mb"] = relay.peak_rss_mb()
        finally:
            relay.stop()
        relay = Relay("http", servers[0].url, open_api)
        try:
            result["http"] = send_events(1, count, issues, seen, open_api, relay)
        finally:
            relay.stop()
        long.config["PingInterval"] = HALF_OPEN_PING  # the ClientConfig the next child gets
        opened = len(long.connections)
        relay = Relay("long", servers[0].url, open_api)
        try:
            assert long.wait_connected(opened + 1, 60), "relay did not connect"
            deaf = deafness(long, half_opens)
            result["deaf_max_pings"] = max(deaf) if deaf else float("nan")
            result["deaf_samples"], result["deaf_missing"] = len(deaf), half_opens - len(deaf)
        finally:
            relay.stop()
    finally:
        long.stop()
        ding.stop()
        for server in servers:
            server.stop()
    return result


def passed(r: dict) -> bool:
    x = r["long"]
    return (x["p99_ms"] <= TARGET_P99_MS and x["lost"] == x["doubled"] == 0
            and r["back_p99_s"] <= TARGET_BACK_S and r["back_missing"] == 0
            and r["after_close_lost"] == r["after_close_doubled"] == 0
            and r["deaf_max_pings"] <= TARGET_DEAF_PINGS and r["deaf_missing"] == 0
            and r["peak_rss_mb"] <= TARGET_RSS_MB and r["idle_cpu_percent"] < TARGET_IDLE_CPU)


def report(r: dict) -> None:
    for kind in ("long", "http"):
        x = r[kind]
        print(f"feishu {kind:4}: {x['events']} events at {r['rate']}/s: p50 {x['p50_ms']:.1f} ms, "
              f"p99 {x['p99_ms']:.1f} ms; lost {x['lost']}, doubled {x['doubled']}")
    print(f"back after close: p50 {r['back_p50_s']:.2f} s, p99 {r['back_p99_s']:.2f} s "
          f"({r['back_samples']} closes; replies after them lost {r['after_close_lost']}, "
          f"doubled {r['after_close_doubled']})")
    print(f"half-open: deaf at most {r['deaf_max_pings']:.2f} ping intervals "
          f"({r['deaf_samples']} times, ping {HALF_OPEN_PING:g} s)")
    print(f"relay with both connections open: peak RSS {r['peak_rss_mb']:.0f} MB, idle CPU "
          f"{r['idle_cpu_percent']:.2f} % of a core")
    print("targets:", "PASS" if passed(r) else "MISS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    for name in ("--mode", "--guance", "--feishu", "--app-id", "--app-secret", "--dingtalk",
                 "--dt-key", "--dt-secret"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--stable", type=float, default=STABLE_SECONDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    result = run(**QUICK) if args.quick else run()
    report(result)
    hand_back(result)


if __name__ == "__main__":
    main()
