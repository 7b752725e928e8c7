"""DingTalk over Stream beside the HTTP callback path: event → Guance comment latency, the
connection back after the server closes it, deafness after a half-open connection, and what the
open connection costs (peak RSS, CPU while idle).

Two processes: this one holds the fakes (Guance, the DingTalk app's gateway, Stream WebSocket and
OpenAPI, a faulty proxy in front of the WebSocket) and measures; relay runs in a child as `relay
serve` does (create_app opens the Stream connection; WebServer serves /dingtalk/reply), so the
RSS and CPU read from /proc are relay's alone.

* events: @-messages `#<issue>#ev-<n>` pushed over Stream at RATE a second for SECONDS, then the
  same number POSTed to /dingtalk/reply (signed, as DingTalk's outgoing robot does) at the same
  rate; each from its push or POST to the comment reaching the fake Guance; lost and doubled
  counted.
* back after close: the fake closes the connection (close code 1011) DROPS times; each from the
  close to the next connection open on the fake. relay's stable period is shortened to
  STABLE_SECONDS in the child so each drop comes after a stable connection, as a real
  server's close does; the wait drawn is the one a stable connection gets (≤ 1 s of jitter).
* half-open: a second child with its ping interval shortened to HALF_OPEN_PING s; the proxy stops
  passing bytes (the sockets stay open) HALF_OPENS times; each from the freeze to the next
  connection, in ping intervals (target ≤ 3).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.common import Arrivals, RelayChild, hand_back, percentile
from relay.sandbox.server import wait_until as wait_for
from relay.clock import Clock

GROUP = "cidBenchGroup000000001=="
RATE, SECONDS, DROPS, HALF_OPENS = 20, 60, 20, 3
QUICK = dict(seconds=3, drops=2, half_opens=1, idle=3)
IDLE_SECONDS = 20  # the connection open, nothing happening: relay's CPU
STABLE_SECONDS, HALF_OPEN_PING = 3.0, 2.0
TARGET_P99_MS, TARGET_BACK_S, TARGET_DEAF_PINGS = 200.0, 5.0, 3.0
TARGET_RSS_MB, TARGET_IDLE_CPU = 150.0, 1.0
API_KEY = "bench-api-key-0123456789"


def serve(args: argparse.Namespace) -> None:
    """The child: relay as `relay serve` runs it, against the parent's fakes."""
    import logging

    import relay.connections.loop as loop
    import relay.platforms.dingtalk_app.connection as dt
    from relay.platforms.registry import build_runtime
    from relay.config import Settings
    from relay.web.app import create_app
    from relay.web.server import WebServer

    logging.getLogger("relay").setLevel(logging.ERROR)
    logging.getLogger("waitress").setLevel(logging.ERROR)
    loop.STABLE_SECONDS = args.stable
    dt.PING_SECONDS = args.ping
    tmp = tempfile.TemporaryDirectory(prefix="bench-stream-")
    rt = build_runtime(Settings(
        _env_file=None, guance_base_url=args.guance, guance_api_key=API_KEY,
        guance_calls_per_minute=10_000_000, dingtalk_app_key=args.app_key,
        dingtalk_app_secret=args.app_secret, dingtalk_open_base_url=args.dingtalk,
        dingtalk_app_groups={"ops-dt": GROUP}, dingtalk_card_template="bench.schema",
        routes={"default": ["ops-dt"]}, database_url=f"sqlite:///{tmp.name}/relay.db"))
    web = WebServer(create_app(rt), "127.0.0.1", 0).start()
    print(json.dumps({"url": web.url}), flush=True)
    sys.stdin.read()
    web.stop()
    rt.close()


class Relay(RelayChild):
    """The parent's handle on a relay child serving DingTalk Stream."""

    def __init__(self, guance: str, ding, ping: float) -> None:
        super().__init__("bench.stream", "--guance", guance, "--dingtalk", ding.url,
                         "--app-key", ding.app_key, "--app-secret", ding.app_secret,
                         "--ping", repr(ping), "--stable", repr(STABLE_SECONDS))
        self.url = self.hello["url"]


def send_events(kind: str, count: int, issues: list[str], seen, ding, relay_url: str) -> dict:
    """`count` events at RATE a second over `kind` (stream / http): latency, lost, doubled."""
    from relay.platforms.dingtalk_app.stream import BOT_MESSAGE_TOPIC
    from relay.sandbox.dingtalk_app import bot_message

    sent: dict[str, float] = {}
    session = requests.Session()
    base_ms = int(time.time() * 1000)

    def post(i: int, body: dict) -> None:
        ts = str(base_ms + i)  # a timestamp a request (each signature is used once)
        mac = hmac.new(ding.app_secret.encode(), f"{ts}\n{ding.app_secret}".encode(),
                       hashlib.sha256)
        session.post(f"{relay_url}/dingtalk/reply", json=body, timeout=30, headers={
            "timestamp": ts, "sign": base64.b64encode(mac.digest()).decode()})

    pool = ThreadPoolExecutor(8)
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / RATE - time.monotonic()))
        key = f"ev-{kind == 'http':d}-{i}"
        body = bot_message(GROUP, f"#{issues[i % len(issues)]}#{key} checked", ding.app_key,
                           staff_id=f"bench{i % 50}")
        sent[key] = time.monotonic()
        if kind == "stream":
            ding.push(BOT_MESSAGE_TOPIC, body)
        else:
            pool.submit(post, i, body)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(k not in seen for k in sent):
        time.sleep(0.05)
    pool.shutdown(wait=True)
    latencies = [(seen[k][0] - t) * 1000 for k, t in sent.items() if k in seen]
    return {"events": count, "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99),
            "lost": sum(k not in seen for k in sent),
            "doubled": sum(len(seen.get(k, [])) > 1 for k in sent)}


def back_after_close(ding, drops: int) -> list[float]:
    backs = []
    for _ in range(drops):
        count = len(ding.connections)
        time.sleep(STABLE_SECONDS + 0.2)  # the connection is stable: a real server's close
        closed = time.monotonic()
        ding.drop()
        if wait_for(lambda: len(ding.connections) > count and ding.open_connections(), 60):
            backs.append(time.monotonic() - closed)
    return backs


def deafness(ding, proxy, half_opens: int) -> list[float]:
    deaf = []
    for _ in range(half_opens):
        count = len(ding.connections)
        time.sleep(STABLE_SECONDS + HALF_OPEN_PING)  # a pong went back and forth meanwhile
        frozen = time.monotonic()
        proxy.half_open()
        if wait_for(lambda: len(ding.connections) > count, 10 * HALF_OPEN_PING):
            deaf.append((time.monotonic() - frozen) / HALF_OPEN_PING)
    return deaf


def run(seconds: int = SECONDS, drops: int = DROPS, half_opens: int = HALF_OPENS,
        idle: float = IDLE_SECONDS) -> dict:
    import logging

    from relay.sandbox.dingtalk_app import FakeDingTalkApp
    from relay.sandbox.guance import FakeGuance
    from relay.sandbox.netfault import FaultyProxy
    from relay.web.server import WebServer

    logging.getLogger("waitress").setLevel(logging.ERROR)
    guance, ding = FakeGuance(API_KEY, clock=Clock()), FakeDingTalkApp(clock=Clock())
    servers = [WebServer(app, "127.0.0.1", 0).start() for app in (guance.app, ding.app)]
    ding.url = servers[1].url
    proxy = FaultyProxy("127.0.0.1", int(ding.ws_url.rsplit(":", 1)[1].split("/")[0]))
    ding.ws_url = proxy.url()
    seen: dict[str, list[float]] = {}
    issues = [guance.add_issue(f"bench alert {i}") for i in range(20)]
    for issue in issues:
        guance.replies[issue] = Arrivals(seen)
    result: dict = {"rate": RATE, "seconds": seconds}
    relay = Relay(servers[0].url, ding, ping=20.0)
    try:
        assert wait_for(lambda: ding.open_connections(), 60), "relay did not connect"
        idle_from, cpu_from = time.monotonic(), relay.cpu_seconds()
        time.sleep(idle)  # measuring an idle process: nothing to wait on
        result["idle_cpu_percent"] = 100 * (relay.cpu_seconds() - cpu_from) / (
            time.monotonic() - idle_from)
        count = RATE * seconds
        result["stream"] = send_events("stream", count, issues, seen, ding, relay.url)
        result["http"] = send_events("http", count, issues, seen, ding, relay.url)
        backs = back_after_close(ding, drops)
        result["back_p50_s"], result["back_p99_s"] = percentile(backs, 0.5), percentile(backs,
                                                                                       0.99)
        result["back_samples"], result["back_missing"] = len(backs), drops - len(backs)
        result["peak_rss_mb"] = relay.peak_rss_mb()
    finally:
        relay.stop()
    count = len(ding.connections)  # before the child starts: it may connect before it answers
    relay = Relay(servers[0].url, ding, ping=HALF_OPEN_PING)
    try:
        assert wait_for(lambda: len(ding.connections) > count, 60), "relay did not connect"
        deaf = deafness(ding, proxy, half_opens)
        result["deaf_max_pings"] = max(deaf) if deaf else float("nan")
        result["deaf_samples"], result["deaf_missing"] = len(deaf), half_opens - len(deaf)
    finally:
        relay.stop()
        proxy.stop()
        ding.stop()
        for server in servers:
            server.stop()
    return result


def passed(r: dict) -> bool:
    s = r["stream"]
    return (s["p99_ms"] <= TARGET_P99_MS and s["lost"] == s["doubled"] == 0
            and r["back_p99_s"] <= TARGET_BACK_S and r["back_missing"] == 0
            and r["deaf_max_pings"] <= TARGET_DEAF_PINGS and r["deaf_missing"] == 0
            and r["peak_rss_mb"] <= TARGET_RSS_MB and r["idle_cpu_percent"] < TARGET_IDLE_CPU)


def report(r: dict) -> None:
    for kind in ("stream", "http"):
        x = r[kind]
        print(f"{kind:6}: {x['events']} events at {r['rate']}/s: p50 {x['p50_ms']:.1f} ms, "
              f"p99 {x['p99_ms']:.1f} ms; lost {x['lost']}, doubled {x['doubled']}")
    print(f"back after close: p50 {r['back_p50_s']:.2f} s, p99 {r['back_p99_s']:.2f} s "
          f"({r['back_samples']} closes)")
    print(f"half-open: deaf at most {r['deaf_max_pings']:.2f} ping intervals "
          f"({r['deaf_samples']} times, ping {HALF_OPEN_PING:g} s)")
    print(f"relay with the connection open: peak RSS {r['peak_rss_mb']:.0f} MB, idle CPU "
          f"{r['idle_cpu_percent']:.2f} % of a core")
    print("targets:", "PASS" if passed(r) else "MISS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    for name in ("--guance", "--dingtalk", "--app-key", "--app-secret"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--ping", type=float, default=20.0, help=argparse.SUPPRESS)
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
