"""Burst: many channels each get many new issues at once; relay and the baseline deliver them.

The fakes run in their own process (bench/fakes.py) with Guance's per-key limit (20 calls a
minute) and Feishu's per-bot limits (5 a second, 100 a minute); each channel has its own Feishu
bot. Each side runs in a fresh process of its own, so its CPU time and peak RSS are its own.
Time runs `speed` times faster than real on both sides (bench/clock.py): the Guance budget alone
makes 50 × 200 issues a matter of minutes (100 paged calls at 16 a minute for polling).

relay is measured twice: with its storm digest (the default: more than 10 new issues of a channel
in one poll become one card that lists them) and without it (one card per issue). The issues
appear 5 s after relay's first run; its next runs come a minute apart (poll, then deliver).

The baseline runs on the real clock (speed 1): how much it loses depends on how fast it fires
requests, and on a faster clock its own slowness would look like pacing to the fakes' limits.
The issues appear 30 s before its run, inside the window that run asks for; one run is enough
(the next run's window no longer holds them).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from sqlalchemy import func, select

from bench.baseline import BaselineStats, run_once
from bench.clock import ScaledClock
from bench.common import hand_back, markdown_table, peak_rss_mb, quiet_logs, run_part, verdict
from bench.fakes import Fakes
from bench.tally import digest_members, tally
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.runtime import Runtime
from relay.settings import Settings
from relay.store import outbox as store

SIDES = ("relay-digest", "relay-cards", "baseline")
CPU_TARGET_MS = 1.0


def measure(side: str, channels: int, per_channel: int, speed: float,
            max_minutes: int = 40) -> dict:
    """One side's burst, in this process; the fakes in a child process."""
    origin = time.time()
    clock = ScaledClock(origin, speed)
    fakes = Fakes(origin, speed)
    try:
        with quiet_logs("relay"), tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
            names = [f"ch{i:02d}" for i in range(channels)]
            fakes.add_channels(names)
            hooks = {name: fakes.hook_url(f"{side}-{name}") for name in names}
            if side == "baseline":
                runner = BaselineSide(fakes, hooks, clock)
            else:
                runner = RelaySide(fakes, hooks, clock, side == "relay-digest",
                                   f"sqlite:///{tmp}/burst.db")
            try:
                return burst(runner, side, fakes, clock, names, per_channel, max_minutes)
            finally:
                runner.close()
    finally:
        fakes.stop()


class RelaySide:
    """relay as its crontab drives it: every minute a poll, then a deliver run."""

    def __init__(self, fakes: Fakes, hooks: dict[str, str], clock: ScaledClock, digest: bool,
                 database_url: str) -> None:
        self.clock = clock
        self.rt = Runtime(Settings(
            _env_file=None, guance_base_url=fakes.guance, guance_api_key=fakes.api_key,
            channels=",".join(hooks), destinations=hooks, routes={n: [n] for n in hooks},
            storm_threshold=10 if digest else 1_000_000, database_url=database_url), clock=clock)
        poll(self.rt)  # the first run ever starts the cursors
        self.begin = clock.now()
        self.seeded_at, self.first_run, self.max_runs = self.begin + 5, self.begin + 60, None
        self.deliver_asleep = 0.0  # simulated seconds deliver slept on send limits

    def run(self) -> None:
        poll(self.rt)
        slept = self.clock.slept
        deliver(self.rt)
        self.deliver_asleep += self.clock.slept - slept

    def digests(self) -> dict[str, list[str]]:
        return digest_members(self.rt.engine)

    def handled(self, issues: int) -> int:
        return issues  # every issue goes through relay's store

    def retried_rows(self) -> int:
        with self.rt.engine.connect() as conn:
            return conn.scalar(select(func.count()).where(store.Delivery.attempts > 1))

    def close(self) -> None:
        self.rt.close()


class BaselineSide:
    """The naive script: the issues appear 30 s before its run, inside that run's window."""

    deliver_asleep = 0.0

    def __init__(self, fakes: Fakes, hooks: dict[str, str], clock: ScaledClock) -> None:
        self.fakes, self.hooks, self.clock = fakes, hooks, clock
        self.stats = BaselineStats()
        self.begin = clock.now()
        self.seeded_at, self.first_run, self.max_runs = self.begin - 30, self.begin, 1

    def run(self) -> None:
        run_once(self.fakes.guance, self.fakes.api_key, self.hooks, self.clock.now(), self.stats)

    def digests(self) -> None:
        return None

    def handled(self, issues: int) -> int:
        return self.stats.posted  # the issues it got from Guance (and posted)

    def retried_rows(self) -> int:
        return 0  # it never retries

    def close(self) -> None:
        pass


def burst(runner, side: str, fakes: Fakes, clock: ScaledClock, names: list[str],
          per_channel: int, max_minutes: int) -> dict:
    made = fakes.add_issues(names, per_channel, int(runner.seeded_at))
    expected = {(f"{side}-{name}", uuid) for uuid, name, _ in made}
    cpu = 0.0
    done_at = None
    real_start = time.time()
    for run in range(runner.max_runs or max_minutes):
        clock.sleep(runner.first_run + 60 * run - clock.now())
        cpu_before = time.process_time()
        runner.run()
        cpu += time.process_time() - cpu_before
        seen = fakes.stats()
        counts = tally(expected, [tuple(c) for c in seen["cards"]], runner.digests())
        if counts["lost"] == 0:
            done_at = clock.now()
            break
    handled = runner.handled(len(expected))
    return {
        "side": side, "issues": len(expected), "channels": len(names), "speed": clock.speed,
        **counts, "sim_seconds": round(done_at - runner.seeded_at, 1) if done_at else None,
        "deliver_asleep_seconds": round(runner.deliver_asleep, 1),
        "real_seconds": round(time.time() - real_start, 1), "handled": handled,
        "cpu_seconds": round(cpu, 3), "cpu_ms_per_issue": round(1000 * cpu / max(handled, 1), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1), "feishu_refused": seen["feishu_refused"],
        "guance_rate_limited": seen["guance_rate_limited"], "guance_calls": seen["guance_calls"],
        "retried_rows": runner.retried_rows()}


def compare(results: list[dict]) -> str:
    """The side-by-side table; prints it with the CPU target and the ratios."""
    rows = [[r["side"], r["issues"], r["cards"], r["covered"], r["lost"], r["repeated"],
             f"{r['sim_seconds'] / 60:.1f}" if r["sim_seconds"] else "never",
             f"{r['cpu_ms_per_issue']:.3f}", f"{r['peak_rss_mb']:.0f}",
             r["feishu_refused"], r["guance_rate_limited"]] for r in results]
    table = markdown_table(["side", "issues", "cards", "issues covered", "lost", "repeated",
                            "minutes to all", "CPU ms/issue handled", "peak RSS MB",
                            "Feishu refusals (11232/429)", "Guance 401 rate limits"], rows)
    print(table)
    by_side = {r["side"]: r for r in results}
    for side in ("relay-digest", "relay-cards"):
        r = by_side.get(side)
        if r:
            print(f"  {side}: deliver slept {r['deliver_asleep_seconds'] / 60:.1f} min on "
                  f"send limits; CPU {r['cpu_ms_per_issue']:.3f} ms/issue (target < "
                  f"{CPU_TARGET_MS} ms): {verdict(r['cpu_ms_per_issue'] < CPU_TARGET_MS)}; "
                  f"lost {r['lost']}, repeated {r['repeated']}: "
                  f"{verdict(r['lost'] == 0 and r['repeated'] == 0)}")
    base, relay = by_side.get("baseline"), by_side.get("relay-digest")
    if base and relay:
        print(f"  baseline: got {base['handled']} issues from Guance before its rate limit, "
              f"covered {base['covered']} of {base['issues']} issues "
              f"({100 * base['covered'] / base['issues']:.1f} %); relay {relay['covered']} "
              f"({100 * relay['covered'] / relay['issues']:.1f} %). CPU per issue relay/baseline: "
              f"{relay['cpu_ms_per_issue'] / max(base['cpu_ms_per_issue'], 1e-9):.2f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--side", choices=SIDES, help="measure one side (in this process)")
    parser.add_argument("--channels", type=int)
    parser.add_argument("--per-channel", type=int)
    parser.add_argument("--speed", type=float)
    parser.add_argument("--max-minutes", type=int, default=40)
    args = parser.parse_args()
    channels = args.channels or (10 if args.quick else 50)
    per_channel = args.per_channel or (40 if args.quick else 200)
    speed = args.speed or 20.0
    if args.side:
        r = measure(args.side, channels, per_channel, speed, args.max_minutes)
        print(f"  {args.side}: {r}")
        hand_back(r)
        return
    print(f"\n== Burst: {channels} channels × {per_channel} new issues at once, one Feishu bot "
          f"per channel (5/s, 100/min each), Guance 20 calls/min; relay's clock ×{speed:g}, "
          "the baseline's real")
    results = [run_part("burst", "--side", side, "--channels", str(channels), "--per-channel",
                        str(per_channel), "--speed", str(1.0 if side == "baseline" else speed),
                        "--max-minutes", str(args.max_minutes)) for side in SIDES]
    compare(results)
    hand_back({"results": results})


if __name__ == "__main__":
    main()
