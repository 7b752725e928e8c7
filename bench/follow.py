"""Cards that follow the issue: how long after a status change in Guance the chat knows it, and
what following N relayed issues costs in Guance calls per cycle.

N open issues are relayed (their cards seeded as sent), then status changes land at random
moments over the run while the crontab's minute runs poll_issues, track_issues and deliver,
against the fake Guance enforcing 20 calls a minute (FakeClock: simulated minutes, real work).
The latency is from the change in Guance to the follow-up reaching the Feishu flow. The naive
way, one issue/get per followed issue per cycle, would cost N calls a cycle: more than the key's
whole budget from N = 20 on.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from sqlalchemy import update

from bench.common import hand_back, quiet_logs, verdict
from relay.clock import FakeClock
from relay.config import Settings
from relay.payloads import IssueCard
from relay.pipeline.deliver import deliver
from relay.pipeline.track_issues import track_issues
from relay.pipeline.poll import poll
from relay.runtime import Runtime
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread
from relay.store import outbox as store
from relay.platforms.registry import build_runtime

# (followed issues, the time Guance's list window filters on: undocumented, so both are measured)
FULL_SIZES = ((50, "createAt"), (500, "createAt"), (5000, "createAt"), (5000, "updateAt"))
QUICK_SIZES = ((50, "createAt"), (500, "createAt"), (500, "updateAt"))
CHANGES = 20  # status changes spread over the run


def measure(followed: int, window_on: str = "createAt", changes: int = CHANGES,
            seed: int = 7) -> dict:
    rng = random.Random(seed)
    clock = FakeClock()
    received: dict[str, float] = {}
    guance = FakeGuance("follow-key-0123456789", clock=clock, calls_per_minute=20)
    guance.window_on = window_on
    feishu = FakeFeishu(clock=clock, on_receive=lambda hook, body: received.setdefault(
        body["issue_uuid"], clock.now()) if body.get("event") == "status" else None)
    servers = [ServerThread(guance.app), ServerThread(feishu.app)]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-follow-") as tmp, quiet_logs("relay"):
            rt = build_runtime(Settings(
                _env_file=None, guance_base_url=servers[0].url, guance_api_key=guance.api_key,
                feishu_webhook_url=f"{servers[1].url}/flow/api/trigger-webhook/follow",
                database_url=f"sqlite:///{tmp}/follow.db"), clock=clock)
            uuids = seed_relayed(rt, guance, clock, followed)
            poll(rt)
            cycles_per_walk = -(-followed // 100) / rt.settings.follow_calls
            span = int(max(cycles_per_walk, 1) * 60 * 2)  # changes over two walks' time
            start = clock.now()
            due = sorted((start + rng.uniform(0, span), uuid)
                         for uuid in rng.sample(uuids, changes))
            changed: dict[str, float] = {}
            calls, guance_calls = [], []
            minute = 0
            while len(received) < changes and minute < span // 60 + 4 * cycles_per_walk + 5:
                minute += 1
                tick = start + minute * 60
                while due and due[0][0] <= tick:
                    when, uuid = due.pop(0)
                    clock.advance(max(when - clock.now(), 0))
                    guance.set_status(uuid, 20)
                    changed[uuid] = clock.now()
                clock.advance(max(tick - clock.now(), 0))
                before = len(guance.calls)
                poll(rt)
                calls.append(track_issues(rt).calls)
                deliver(rt)
                guance_calls.append(len(guance.calls) - before)
            rt.close()
    finally:
        for server in servers:
            server.stop()
    lat = sorted(received[u] - changed[u] for u in changed if u in received)
    return {"followed": followed, "window_on": window_on, "changes": changes, "told": len(lat),
            "p50_s": statistics.median(lat) if lat else None,
            "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
            "track_calls_max": max(calls), "track_calls_mean": statistics.mean(calls),
            "guance_calls_max": max(guance_calls), "minutes": minute,
            "rate_limited": guance.rate_limited, "naive_calls": followed}


def seed_relayed(rt: Runtime, guance: FakeGuance, clock: FakeClock, count: int,
                 age: int = 86_400) -> list[str]:
    """`count` open issues created from `age` seconds ago whose cards went out, seeded straight
    into the outbox as sent (tests/pipeline/test_follow_budget.py seeds its issues so too)."""
    now = int(clock.now())
    uuids = [guance.add_issue(f"issue {n}", created_at=now - age + n) for n in range(count)]
    rows = [store.row(IssueCard(uuid=i["uuid"], title=i["name"], level="P2", source="m",
                                create_at=i["createAt"], channel="default"),
                      "default", i["createAt"]) for i in guance.issues]
    store.record_poll(rt.engine, "chan_seed", "seed", now, now, rows)
    with rt.engine.begin() as conn:
        conn.execute(update(store.Delivery).values(status=store.SENT, sent_at=now))
    return uuids


def met(r: dict) -> bool:
    """One size's target: every change told once, ≤ 3 tracker calls a cycle, no 401."""
    return r["told"] == r["changes"] and r["track_calls_max"] <= 3 and not r["rate_limited"]


def run(sizes: tuple[tuple[int, str], ...]) -> dict:
    results = []
    for n, window_on in sizes:
        started = time.perf_counter()
        r = measure(n, window_on)
        r["wall_s"] = time.perf_counter() - started
        results.append(r)
        print(f"  {n:>5} followed, window on {window_on}: told {r['told']}/{r['changes']} changes, latency p50 "
              f"{r['p50_s'] / 60:.1f} min / p99 {r['p99_s'] / 60:.1f} min; track_issues calls a "
              f"cycle max {r['track_calls_max']} (mean {r['track_calls_mean']:.1f}), all Guance "
              f"calls a cycle max {r['guance_calls_max']}, 401s {r['rate_limited']}; naive "
              f"issue/get each cycle: {r['naive_calls']} calls ({r['wall_s']:.1f} s wall)")
    ok = all(met(r) for r in results)
    print(f"  every change told once, ≤ 3 tracker calls a cycle, no 401: {verdict(ok)}")
    return {"by_size": results, "ok": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("== Follow: status change in Guance → the chat knows it")
    hand_back(run(QUICK_SIZES if args.quick else FULL_SIZES))


if __name__ == "__main__":
    main()
