"""The fake Guance and Feishu (relay.sandbox) in a process of their own.

So the CPU time and memory a benchmark reads from its own process are relay's (or the
baseline's), not the fakes'. The child prints one JSON line with its URLs, serves until its stdin
closes, and takes orders on a small control app: make channels, seed issues, report what arrived.

The fakes are served by waitress, not by the werkzeug server relay.sandbox uses in tests: that
one closes the connection after every answer, while the real services keep it alive, and relay's
kept-alive connections (one requests.Session) are part of what is measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys

import requests
from flask import Flask, jsonify, request

from bench.clock import ScaledClock
from bench.common import ROOT
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.web.server import WebServer

API_KEY = "bench-api-key-0123456789"


def control_app(guance: FakeGuance, feishu: FakeFeishu, arrivals: list[float]) -> Flask:
    app = Flask("bench-control")

    @app.post("/channels")
    def channels():
        names = request.get_json()["names"]
        return jsonify({name: guance.add_channel(name) for name in names})

    @app.post("/issues")
    def issues():
        """`per_channel` issues in each named channel, all created within `spread` seconds from
        `created_at`, interleaved across channels (a storm hits them all at once)."""
        body = request.get_json()
        names, per, start = body["channels"], body["per_channel"], body["created_at"]
        spread = body.get("spread", 10)
        made = []
        for i in range(per):
            for name in names:
                when = start + i * spread // max(per, 1)
                made.append([guance.add_issue(f"{name} alert {i}", [name], created_at=when,
                                              message=f"value {i} over threshold"), name, when])
        return jsonify(made)

    @app.get("/stats")
    def stats():
        with feishu._lock:
            cards = [[hook, body.get("issue_uuid")] for hook, body in feishu.received]
        return jsonify({"cards": cards, "feishu_refused": feishu.too_frequent,
                        "guance_rate_limited": guance.rate_limited,
                        "guance_calls": len(guance.calls),
                        "last_card_at": max(arrivals, default=None)})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--origin", type=float, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--guance-calls-per-minute", type=int, default=20, help="0: no limit")
    parser.add_argument("--feishu-limits", default="5/1,100/60", help="'none' or count/seconds,…")
    args = parser.parse_args()
    clock = ScaledClock(args.origin, args.speed)
    arrivals: list[float] = []  # when each accepted card arrived (simulated time)
    guance = FakeGuance(API_KEY, clock=clock,
                        calls_per_minute=args.guance_calls_per_minute or None)
    limits = None if args.feishu_limits == "none" else [
        (int(n), float(s)) for n, s in (rule.split("/") for rule in args.feishu_limits.split(","))]
    feishu = FakeFeishu(clock=clock, limits=limits,
                        on_receive=lambda hook, body: arrivals.append(clock.now()))
    logging.getLogger("waitress").setLevel(logging.ERROR)  # no "task queue depth" lines
    servers = [WebServer(app, "127.0.0.1", 0).start()
               for app in (guance.app, feishu.app, control_app(guance, feishu, arrivals))]
    print(json.dumps({"guance": servers[0].url, "feishu": servers[1].url,
                      "control": servers[2].url}), flush=True)
    sys.stdin.read()  # until the parent closes the pipe (or dies)
    for server in servers:
        server.stop()


class Fakes:
    """The parent's handle on a fakes process."""

    def __init__(self, origin: float, speed: float = 1.0, guance_calls_per_minute: int = 20,
                 feishu_limits: str = "5/1,100/60") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fakes", "--origin", repr(origin), "--speed",
             repr(speed), "--guance-calls-per-minute", str(guance_calls_per_minute),
             "--feishu-limits", feishu_limits],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        urls = json.loads(self.proc.stdout.readline())
        self.guance, self.feishu, self.control = urls["guance"], urls["feishu"], urls["control"]
        self.api_key = API_KEY
        self.http = requests.Session()

    def add_channels(self, names: list[str]) -> dict[str, str]:
        return self.http.post(f"{self.control}/channels", json={"names": names}).json()

    def add_issues(self, channels: list[str], per_channel: int, created_at: int,
                   spread: int = 10) -> list[list]:
        return self.http.post(f"{self.control}/issues", json={
            "channels": channels, "per_channel": per_channel, "created_at": created_at,
            "spread": spread}).json()

    def stats(self) -> dict:
        return self.http.get(f"{self.control}/stats").json()

    def hook_url(self, name: str) -> str:
        return f"{self.feishu}/flow/api/trigger-webhook/{name}"

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


if __name__ == "__main__":
    main()
