"""Late runs: scheduled runs that start 30–90 s late, and one that never runs.

Relay and the baseline run at the same moments against the same fake Guance (one issue every
7 s in each channel) and each has its own Feishu webhooks; a FakeClock makes the simulated half
hour take seconds. The baseline's fixed [run − 60 s, run] window misses what was created between
the previous run and run − 60 s (a late run, a skipped one) and reads twice what the previous
late run already read (the run after it). relay reads from its cursor, minus an overlap, and
drops the re-reads in its outbox.
"""

from __future__ import annotations

import argparse
import tempfile

from bench.baseline import BaselineStats, run_once
from bench.common import hand_back, verdict
from bench.tally import tally
from relay.clock import FakeClock
from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.runtime import Runtime
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread

ISSUE_EVERY = 7  # seconds; not a divisor of 60, so issues never sit on a window's edge
# run number → seconds late; None = the run never happens (the machine was down, say)
FULL_SCHEDULE = {4: 30, 8: 60, 12: 90, 15: None, 19: 45, 23: 75}
FULL_RUNS = 26
QUICK_SCHEDULE = {2: 45, 4: None, 6: 90}
QUICK_RUNS = 8


def run(runs: int, schedule: dict[int, int | None], channels: int = 2) -> dict:
    clock = FakeClock()
    guance, feishu = FakeGuance("late-key-0123456789", clock=clock), FakeFeishu(clock=clock)
    servers = [ServerThread(guance.app), ServerThread(feishu.app)]
    names = [f"team{i}" for i in range(channels)]
    for name in names:
        guance.add_channel(name)
    feishu_url = servers[1].url
    baseline_hooks = {n: f"{feishu_url}/flow/api/trigger-webhook/baseline-{n}" for n in names}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-late-") as tmp:
            rt = Runtime(Settings(
                _env_file=None, guance_base_url=servers[0].url, guance_api_key=guance.api_key,
                channels=",".join(names), storm_threshold=100_000,  # one card per issue
                destinations={n: f"{feishu_url}/flow/api/trigger-webhook/relay-{n}"
                              for n in names},
                routes={n: [n] for n in names}, database_url=f"sqlite:///{tmp}/late.db"),
                clock=clock)
            stats = BaselineStats()
            start = clock.now()
            poll(rt)  # relay's first run starts its cursor; the baseline has nothing to start
            made: list[tuple[str, str, float]] = []  # (channel, uuid, created)
            next_issue = start + 3
            last_run = start
            run_times: list[tuple[int, float]] = []  # (run number, time it ran)
            for k in range(1, runs + 1):
                late = schedule.get(k, 0)
                if late is None:
                    continue  # skipped
                # a run more than a minute late is followed at once by the next one; runs start
                # half a second into their second, so no issue is created at the very moment
                when = max(start + 60 * k + late + 0.5, last_run)
                while next_issue < when:  # issues keep coming while nobody looks
                    for name in names:
                        made.append((name, guance.add_issue(f"{name} {len(made)}", [name],
                                                            created_at=next_issue), next_issue))
                    next_issue += ISSUE_EVERY
                clock.advance(max(when - clock.now(), 0))  # relay's send limits may sleep
                run_once(servers[0].url, guance.api_key, baseline_hooks, when, stats)
                poll(rt)
                deliver(rt)
                last_run = when
                run_times.append((k, when))
            due = [(n, u) for n, u, created in made if created <= last_run]
            relay = tally({(f"relay-{n}", u) for n, u in due},
                          [(h, b["issue_uuid"]) for h, b in feishu.received
                           if h.startswith("relay-")])
            base = tally({(f"baseline-{n}", u) for n, u in due},
                         [(h, b["issue_uuid"]) for h, b in feishu.received
                          if h.startswith("baseline-")])
            rt.close()
    finally:
        for server in servers:
            server.stop()
    late_runs = sorted(v for v in schedule.values() if v)
    result = {"issues": len(due), "runs": runs, "late_runs": late_runs,
              "skipped": sum(v is None for v in schedule.values()), "relay": relay,
              "baseline": base, "baseline_by_run": window_errors(
                  [created for _, _, created in made], run_times, schedule)}
    report(result)
    return result


def window_errors(created: list[float], run_times: list[tuple[int, float]],
                  schedule: dict[int, int | None]) -> list[str]:
    """Where the baseline's windows leave gaps and overlap: for each run, the issues created
    between the previous run and this run's window (lost) and those both windows hold (read
    twice)."""
    lines = []
    for (_, before), (k, when) in zip(run_times, run_times[1:]):
        before, when = int(before), int(when)  # the baseline asks in whole seconds
        lost = sum(1 for t in created if before < t < when - 60)
        twice = sum(1 for t in created if when - 60 <= t <= before)
        if lost or twice:
            why = ("after a skipped run" if schedule.get(k - 1, 0) is None else
                   f"{schedule[k]} s late" if schedule.get(k) else
                   "on time; both windows hold their shared edge second" if when - before == 60
                   else f"on time, {when - before} s after a late run")
            lines.append(f"run {k} ({why}): window [run − 60 s, run] misses {lost}, "
                         f"re-reads {twice}")
    return lines


def report(r: dict) -> None:
    print(f"\n== Late runs: {r['runs']} runs a minute apart, {len(r['late_runs'])} late by "
          f"{', '.join(str(s) for s in r['late_runs'])} s, {r['skipped']} skipped; "
          f"{r['issues']} issues due")
    for side in ("relay", "baseline"):
        t = r[side]
        print(f"  {side:<8} cards {t['cards']:>5}  covered {t['covered']:>5}  lost {t['lost']:>4}"
              f"  repeated {t['repeated']:>4}")
    for line in r["baseline_by_run"]:
        print(f"    baseline {line}")
    ok = r["relay"]["lost"] == 0 and r["relay"]["repeated"] == 0
    base_bad = r["baseline"]["lost"] + r["baseline"]["repeated"]
    print(f"  target: relay zero lost, zero repeated where the baseline loses/repeats "
          f"({base_bad} wrong): {verdict(ok and base_bad > 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    hand_back(run(QUICK_RUNS, QUICK_SCHEDULE) if args.quick else run(FULL_RUNS, FULL_SCHEDULE))


if __name__ == "__main__":
    main()
