"""Burst: many channels each get many new issues at once; relay and the baseline deliver them.

The fakes run in their own process (bench/fakes.py) with Guance's per-key limit (20 calls a
minute) and Feishu's per-bot limits (5 a second, 100 a minute); each channel has its own Feishu
bot. Each side runs in a fresh process of its own, so its CPU time and peak RSS are its own.
Time runs `speed` times faster than real on both sides (bench/clock.py): the Guance budget alone
makes 50 × 200 issues a matter of minutes (100 paged calls at 16 a minute for polling).

relay is measured three times: with its storm digest (the default: more than 10 new issues of a
channel in one poll become one card that lists them), without it (one card per issue), and
without it beside a CPU-bound neighbour process (its sends must still keep to the limits). The
issues appear 5 s after relay's first poll; relay runs as crontab.example schedules it
(`poll_issues every=15`: a poll and a deliver run every 15 s while the Guance budget has room).
Each relay side prints the floor the limits allow for its burst (see floor()).

The baseline runs on the real clock (speed 1): how much it loses depends on how fast it fires
requests, and on a faster clock its own slowness would look like pacing to the fakes' limits.
The issues appear 30 s before its run, inside the window that run asks for; one run is enough
(the next run's window no longer holds them). That run takes seconds where relay's take a
minute, so it is made three times (before, between and after relay's) and the median counts.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import threading
import time

from sqlalchemy import func, select

from bench.baseline import BaselineStats, run_once
from bench.clock import ScaledClock
from bench.common import hand_back, markdown_table, peak_rss_mb, quiet_logs, run_part, verdict
from bench.fakes import Fakes
from bench.tally import digest_members, tally
from relay.config import Settings
from relay.guance import PAGE_SIZE
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.pipeline.spread import poll_spread
from relay.runtime import Runtime
from relay.store import outbox as store

SIDES = ("relay-digest", "relay-cards", "relay-cards-loaded", "baseline")
FEISHU_CARDS_PER_MINUTE = 100  # a custom bot's sustained maximum (5 a second in bursts)
FLOOR_RATIO = 1.25  # relay's minutes until all arrived against the floor
POLL_EVERY = 15  # crontab.example: poll_issues every=15


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
            # a CPU-bound process beside relay: its sends must still keep to the limits
            neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) \
                if side.endswith("-loaded") else None
            try:
                return burst(runner, side, fakes, clock, names, per_channel, max_minutes)
            finally:
                runner.close()
                if neighbour:
                    neighbour.kill()
                    neighbour.wait()
    finally:
        fakes.stop()


class RelaySide:
    """relay as crontab.example drives it: every minute `deliver` and `poll_issues every=15` (a
    poll, then a deliver run, every 15 s while the Guance budget has room)."""

    def __init__(self, fakes: Fakes, hooks: dict[str, str], clock: ScaledClock, digest: bool,
                 database_url: str) -> None:
        self.clock = clock
        # a running relay's database was migrated before (`relay migrate`, or an earlier start):
        # so here too, and the measured process never loads Alembic
        subprocess.run([sys.executable, "-c", "from relay.cli import main; main(['migrate'])"],
                       env={**os.environ, "RELAY_DATABASE_URL": database_url}, check=True,
                       stdout=subprocess.DEVNULL)
        self.rt = Runtime(Settings(
            _env_file=None, guance_base_url=fakes.guance, guance_api_key=fakes.api_key,
            channels=",".join(hooks), destinations=hooks, routes={n: [n] for n in hooks},
            storm_threshold=10 if digest else 1_000_000, database_url=database_url), clock=clock)
        poll(self.rt)  # the first run ever starts the cursors: the firing's first poll
        self.begin = clock.now()
        # the firings after it: its poll at +15 s starts one of 60 s (at +15, +30, +45, +60)
        self.seeded_at, self.first_run, self.max_runs = (self.begin + 5, self.begin + POLL_EVERY,
                                                         None)

    def run(self) -> None:
        """One firing: the `deliver` line's run in a thread of its own, as APScheduler runs it,
        beside `poll_issues every=15` (whose own deliver runs wait while that one sends)."""
        sender = threading.Thread(target=deliver, args=(self.rt,), kwargs={"max_seconds": 50})
        sender.start()
        poll_spread(self.rt, POLL_EVERY)
        sender.join()

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
            done_at = seen["last_card_at"] or clock.now()
            break
    handled = runner.handled(len(expected))
    return {
        "side": side, "issues": len(expected), "channels": len(names), "speed": clock.speed,
        **counts, "sim_seconds": round(done_at - runner.seeded_at, 1) if done_at else None,
        "real_seconds": round(time.time() - real_start, 1), "handled": handled,
        "cpu_seconds": round(cpu, 3), "cpu_ms_per_issue": round(1000 * cpu / max(handled, 1), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1), "feishu_refused": seen["feishu_refused"],
        "guance_rate_limited": seen["guance_rate_limited"], "guance_calls": seen["guance_calls"],
        "retried_rows": runner.retried_rows()}


def floor(channels: int, per_channel: int, digest: bool, calls_per_minute: int = 16,
          bot_limits: tuple[tuple[int, float], ...] = ((5, 1.0), (100, 60.0))) -> dict:
    """The fewest minutes the limits allow for the burst: every channel's pages read at the
    calls a minute left to polling (Guance's 20 less relay's reply reserve of 4), then the cards
    the last read brought at the bot's per-second limit; or one bot's cards at its limits, if
    that is longer."""
    calls = channels * math.ceil(per_channel / PAGE_SIZE)
    cards = 1 if digest else per_channel  # per bot (one bot per channel)
    (per_second, second), (per_minute, minute) = bot_limits
    last_read = min(cards, PAGE_SIZE) / per_second * second / 60
    sends = ((math.ceil(cards / per_minute) - 1) * minute + (cards - (math.ceil(
        cards / per_minute) - 1) * per_minute) / per_second * second) / 60
    return {"calls": calls, "calls_per_minute": calls_per_minute,
            "reads_minutes": round(calls / calls_per_minute, 2),
            "sends_minutes": round(sends, 2),
            "minutes": round(max(calls / calls_per_minute + last_read, sends), 2)}


def compare(results: list[dict]) -> str:
    """The side-by-side table; prints it with the floor, the ratios and the verdicts."""
    rows = [[r["side"], r["issues"], r["cards"], r["covered"], r["lost"], r["repeated"],
             f"{r['sim_seconds'] / 60:.1f}" if r["sim_seconds"] else "never",
             f"{r['floor']['minutes']:.1f}" if r.get("floor") else "",
             f"{r['cpu_ms_per_issue']:.3f}", f"{r['peak_rss_mb']:.0f}",
             r["feishu_refused"], r["guance_rate_limited"], r["guance_calls"]] for r in results]
    table = markdown_table(["side", "issues", "cards", "issues covered", "lost", "repeated",
                            "minutes to all", "floor minutes", "CPU ms/issue handled",
                            "peak RSS MB", "Feishu refusals (11232/429)",
                            "Guance 401 rate limits", "Guance calls"], rows)
    print(table)
    by_side = {r["side"]: r for r in results}
    base = by_side.get("baseline")
    for side in ("relay-digest", "relay-cards", "relay-cards-loaded"):
        r = by_side.get(side)
        if not r:
            continue
        f = r["floor"]
        print(f"  {side}: floor {f['minutes']:.2f} min ({f['calls']} calls ÷ "
              f"{f['calls_per_minute']}/min = {f['reads_minutes']:.2f} min of reads; one bot's "
              f"cards at 5/s and 100/min: {f['sends_minutes']:.2f} min); all arrived after "
              + (f"{r['sim_seconds'] / 60:.2f} min = {at_floor(r):.2f}× the floor (≤ "
                 f"{FLOOR_RATIO}×): {verdict(at_floor(r) <= FLOOR_RATIO)}"
                 if r["sim_seconds"] else "never: MISS")
              + f"; lost {r['lost']}, repeated {r['repeated']}, refusals "
              f"{r['feishu_refused']} / {r['guance_rate_limited']}")
    cards = by_side.get("relay-cards")
    if base and cards:
        print(f"  CPU share of one core at one bot's sustained {FEISHU_CARDS_PER_MINUTE} cards a "
              f"minute (digest off): {cpu_share(cards):.2f} % (no target: relay is bound by the "
              "platforms' rate limits, not by CPU)")
        print(f"  baseline: got {base['handled']} issues from Guance before its rate limit, "
              f"covered {base['covered']} of {base['issues']} issues "
              f"({100 * base['covered'] / base['issues']:.1f} %)")
    return table


def at_floor(r: dict) -> float:
    return r["sim_seconds"] / 60 / r["floor"]["minutes"] if r["sim_seconds"] else math.inf


def cpu_share(relay: dict) -> float:
    """Percent of one core relay spends at a bot's sustained maximum: CPU ms a card × cards a
    second ÷ 1,000 ms × 100."""
    return relay["cpu_ms_per_issue"] * FEISHU_CARDS_PER_MINUTE / 60 / 10


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
    speed = args.speed or 10.0
    if args.side:
        r = measure(args.side, channels, per_channel, speed, args.max_minutes)
        if args.side != "baseline":
            r["floor"] = floor(channels, per_channel, args.side == "relay-digest")
        print(f"  {args.side}: {r}")
        hand_back(r)
        return
    print(f"\n== Burst: {channels} channels × {per_channel} new issues at once, one Feishu bot "
          f"per channel (5/s, 100/min each), Guance 20 calls/min; relay's clock ×{speed:g}, "
          "the baseline's real; relay-cards-loaded beside a CPU-bound process")

    def run_side(name: str) -> dict:
        return run_part("burst", "--side", name, "--channels", str(channels), "--per-channel",
                        str(per_channel), "--speed", str(1.0 if name == "baseline" else speed),
                        "--max-minutes", str(args.max_minutes))

    # the baseline's run takes seconds, relay's a minute: on a busy machine one moment's load
    # would decide the ratio, so the baseline runs before, between and after relay's sides and
    # its median run (by CPU) is the one compared
    baselines = [run_side("baseline")]
    results = [run_side("relay-digest"), run_side("relay-cards")]
    baselines.append(run_side("baseline"))
    results.append(run_side("relay-cards-loaded"))
    baselines.append(run_side("baseline"))
    baselines.sort(key=lambda r: r["cpu_ms_per_issue"])
    print("  baseline CPU ms per issue in its three runs: "
          + ", ".join(f"{r['cpu_ms_per_issue']:.3f}" for r in baselines) + " (the median counts)")
    results.append(baselines[1])
    compare(results)
    hand_back({"results": results})


if __name__ == "__main__":
    main()
