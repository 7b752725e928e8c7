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

from bench.baseline import BaselineStats, run_once
from bench.clock import ScaledClock
from bench.common import hand_back, markdown_table, peak_rss_mb, quiet_logs, run_part, verdict
from bench.fakes import Fakes
from bench.tally import digest_members, tally

SIDES = ("relay-digest", "relay-cards", "baseline")
CPU_TARGET_MS = 1.0


def measure(side: str, channels: int, per_channel: int, speed: float,
            max_minutes: int = 40) -> dict:
    with quiet_logs("relay"):
        return _measure(side, channels, per_channel, speed, max_minutes)


def _measure(side: str, channels: int, per_channel: int, speed: float, max_minutes: int) -> dict:
    origin = time.time()
    clock = ScaledClock(origin, speed)
    fakes = Fakes(origin, speed)
    names = [f"ch{i:02d}" for i in range(channels)]
    fakes.add_channels(names)
    hooks = {name: fakes.hook_url(f"{side}-{name}") for name in names}
    tmp = tempfile.TemporaryDirectory(prefix="bench-burst-")
    rt = None
    if side.startswith("relay"):
        from relay import store
        from relay.delivery import deliver
        from relay.poller import poll
        from relay.runtime import Runtime
        from relay.settings import Settings

        rt = Runtime(Settings(
            _env_file=None, guance_base_url=fakes.guance, guance_api_key=fakes.api_key,
            channels=",".join(names), destinations=hooks, routes={n: [n] for n in names},
            storm_threshold=10 if side == "relay-digest" else 1_000_000,
            database_url=f"sqlite:///{tmp.name}/burst.db"), clock=clock)
        poll(rt)  # the first run ever starts the cursors

        def one_run() -> None:
            poll(rt)
            slept = clock.slept
            deliver(rt)
            waits["deliver"] += clock.slept - slept

        begin = clock.now()
        seeded_at, first_run = begin + 5, begin + 60
        handled = lambda: len(expected)  # noqa: E731 - relay handles every issue
    else:
        stats = BaselineStats()

        def one_run() -> None:
            run_once(fakes.guance, fakes.api_key, hooks, clock.now(), stats)

        begin = clock.now()
        seeded_at, first_run, max_minutes = begin - 30, begin, 1
        handled = lambda: stats.posted  # noqa: E731 - the issues it got from Guance and posted

    waits = {"deliver": 0.0}
    made = fakes.add_issues(names, per_channel, int(seeded_at))
    expected = {(f"{side}-{name}", uuid) for uuid, name, _ in made}
    cpu = 0.0
    done_at = None
    real_start = time.time()
    for run in range(max_minutes):
        clock.sleep(first_run + 60 * run - clock.now())
        cpu_before = time.process_time()
        one_run()
        cpu += time.process_time() - cpu_before
        seen = fakes.stats()
        counts = tally(expected, [tuple(c) for c in seen["cards"]],
                       digest_members(rt.engine) if rt else None)
        if counts["lost"] == 0:
            done_at = clock.now()
            break
    result = {
        "side": side, "issues": len(expected), "channels": channels, "speed": speed,
        **counts, "sim_seconds": round(done_at - seeded_at, 1) if done_at else None,
        "deliver_asleep_seconds": round(waits["deliver"], 1),
        "real_seconds": round(time.time() - real_start, 1),
        "handled": handled(), "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_issue": round(1000 * cpu / max(handled(), 1), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1), "feishu_refused": seen["feishu_refused"],
        "guance_rate_limited": seen["guance_rate_limited"], "guance_calls": seen["guance_calls"]}
    if rt is not None:
        with rt.engine.connect() as conn:
            from sqlalchemy import func, select
            result["retried_rows"] = conn.scalar(select(func.count()).where(
                store.Delivery.attempts > 1))
        rt.close()
    fakes.stop()
    tmp.cleanup()
    return result


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
