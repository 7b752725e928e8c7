"""Time to chat: seconds from an issue appearing in Guance's list to Feishu accepting its card.

Steady state at the default settings, on a simulated clock (FakeClock; the fakes in this process,
served over HTTP): one issue every 20 s on average (random) in `default`, the channel relay
watches by default. The crontab runs as `crontab.example` has it: `deliver` every minute and
`poll_issues` either once a minute or with `every=15`, both in the same run against the same
issues. Other work shares the Guance budget all along: two chat replies a minute become
comments, and the follow-up jobs (notify_replies, issue tracking) read three issues' replies a
minute, at random moments (they run while poll_issues sleeps between its polls).
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import tempfile
import threading

from bench.common import hand_back, markdown_table, quiet_logs, verdict
from jobs import JOBS
from relay.clock import FakeClock
from relay.config import Settings
from relay.guance import GuanceError
from relay.pipeline.schedule import job_kwargs
from relay.runtime import Runtime
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread

ISSUE_EVERY = 20.0  # mean seconds between issues
REPLIES_PER_MINUTE = 2
FOLLOW_UP_CALLS_PER_MINUTE = 3
WARM_UP_MINUTES = 2  # not counted: the first run only starts the cursor
TARGET_P50, TARGET_P99 = 10.0, 20.0
MODES = {"every=15": ["every=15"], "once a minute": []}  # poll_issues' crontab arguments


class SimClock(FakeClock):
    """A FakeClock that runs the work scheduled for the moments a sleep passes over (the other
    jobs' Guance calls happen while poll_issues waits between polls, as threads would)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[float, int, object]] = []
        self._busy = False

    def at(self, when: float, action) -> None:
        heapq.heappush(self.events, (when, len(self.events) + id(action) % 1000, action))

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        target = self.now() + max(seconds, 0.0)
        while not self._busy and self.events and self.events[0][0] <= target:
            when, _, action = heapq.heappop(self.events)
            self.advance(max(when - self.now(), 0.0))
            self._busy = True  # an action's own waits only move the clock
            try:
                action()
            finally:
                self._busy = False
        self.advance(max(target - self.now(), 0.0))


def run(minutes: int, seed: int = 15) -> dict:
    """Both modes over the same simulated minutes; figures per mode."""
    return {mode: run_mode(mode, minutes, seed) for mode in MODES}


def run_mode(mode: str, minutes: int, seed: int) -> dict:
    rng = random.Random(seed)
    clock = SimClock()
    guance = FakeGuance("latency-key-0123456789", clock=clock, calls_per_minute=20)
    accepted: dict[str, float] = {}
    feishu = FakeFeishu(clock=clock, limits=[(5, 1.0), (100, 60.0)],
                        on_receive=lambda hook, body: accepted.setdefault(
                            body.get("issue_uuid"), clock.now()))
    servers = [ServerThread(guance.app), ServerThread(feishu.app)]
    start = clock.now()
    created: dict[str, float] = {}
    when = start + WARM_UP_MINUTES * 60
    while when < start + minutes * 60 - 60:  # the last minute only delivers
        uuid = guance.add_issue(f"alert {len(created)}", created_at=when)
        created[uuid] = int(when)
        when += rng.expovariate(1 / ISSUE_EVERY)
    try:
        with quiet_logs("relay"), tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
            rt = Runtime(Settings(
                _env_file=None, guance_base_url=servers[0].url, guance_api_key=guance.api_key,
                feishu_webhook_url=f"{servers[1].url}/flow/api/trigger-webhook/latency",
                database_url=f"sqlite:///{tmp}/latency.db"), clock=clock)
            other = OtherWork(rt, clock, created, rng)
            for minute in range(minutes):
                other.schedule(start + minute * 60)
                clock.sleep(start + minute * 60 - clock.now())
                JOBS["deliver"](rt, max_seconds=5)
                JOBS["poll_issues"](rt, **job_kwargs("poll_issues", MODES[mode], JOBS))
            rt.close()
    finally:
        for server in servers:
            server.stop()
    waits = sorted(accepted[u] - created[u] for u in created if u in accepted)
    return {"issues": len(created), "carded": len(waits),
            "lost": len(created) - len(waits), "repeated": len(feishu.received) - len(accepted),
            "p50": round(percentile(waits, 50), 1), "p99": round(percentile(waits, 99), 1),
            "mean": round(statistics.fmean(waits), 1) if waits else None,
            "guance_calls": len(guance.calls), "most_calls_in_a_minute":
            guance.calls_in_any_minute(), "guance_rate_limited": guance.rate_limited,
            "replies_posted": other.replies, "replies_refused": other.refused,
            "follow_up_calls": other.follow_ups}


class OtherWork:
    """Replies and follow-up reads at random moments of each minute, on the shared budget."""

    def __init__(self, rt: Runtime, clock: SimClock, created: dict[str, float],
                 rng: random.Random) -> None:
        self.rt, self.clock, self.created, self.rng = rt, clock, created, rng
        self.replies = self.refused = self.follow_ups = 0

    def schedule(self, minute_start: float) -> None:
        for _ in range(REPLIES_PER_MINUTE):
            self.clock.at(minute_start + self.rng.uniform(0, 60), self.reply)
        for _ in range(FOLLOW_UP_CALLS_PER_MINUTE):
            self.clock.at(minute_start + self.rng.uniform(0, 60), self.follow_up)

    def _some_issue(self) -> str | None:
        now = self.clock.now()
        old = [u for u, at in self.created.items() if at <= now]
        return self.rng.choice(old) if old else None

    def reply(self) -> None:
        issue = self._some_issue()
        if issue:
            try:
                self.rt.guance.reply(issue, "on it")
                self.replies += 1
            except GuanceError:
                self.refused += 1

    def follow_up(self) -> None:
        issue = self._some_issue()
        if issue:
            try:
                self.rt.guance.replies(issue)
                self.follow_ups += 1
            except GuanceError:
                pass  # a background read waits for the next run, as the jobs do


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    rank = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[rank]


def passed(r: dict) -> bool:
    spread = r["every=15"]
    return (spread["p50"] <= TARGET_P50 and spread["p99"] <= TARGET_P99 and spread["lost"] == 0
            and spread["repeated"] == 0 and spread["guance_rate_limited"] == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--minutes", type=int)
    args = parser.parse_args()
    minutes = args.minutes or (20 if args.quick else 40)
    print(f"\n== Time to chat: {minutes} simulated minutes, an issue every ~{ISSUE_EVERY:g} s in "
          f"default, {REPLIES_PER_MINUTE} replies + {FOLLOW_UP_CALLS_PER_MINUTE} follow-up reads "
          "a minute on the same 20-a-minute Guance key")
    result = run(minutes)
    rows = [[mode, r["issues"], r["lost"], r["repeated"], r["p50"], r["p99"], r["mean"],
             r["most_calls_in_a_minute"], r["guance_rate_limited"], r["replies_posted"]]
            for mode, r in result.items()]
    print(markdown_table(["poll_issues", "issues", "lost", "repeated", "p50 s", "p99 s", "mean s",
                          "most Guance calls in a minute", "Guance 401", "replies posted"], rows))
    print(f"  every=15: p50 ≤ {TARGET_P50:g} s and p99 ≤ {TARGET_P99:g} s, nothing lost or "
          f"refused: {verdict(passed(result))}")
    hand_back({"minutes": minutes, "modes": result})


if __name__ == "__main__":
    main()
