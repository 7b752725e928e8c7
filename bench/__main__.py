"""Run every benchmark, print the figures against the targets, write the results as markdown.

    .venv/bin/python -m bench            # the full set (a few minutes; README's table)
    .venv/bin/python -m bench --quick    # the smallest configuration of each, as a smoke run

Each part runs in processes of its own; see the docstrings of bench/late.py, burst.py, reply.py,
growth.py, follow.py, stream.py and feishu_long.py for what each measures.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import burst, feishu_long, follow, latency, stream
from bench.common import machine, markdown_table, run_part, verdict

PARTS = ("latency", "late", "burst", "reply", "growth", "follow", "stream", "feishu_long")


def summary(results: dict, quick: bool) -> str:
    """The README table: one line per figure, with its target where it has one."""
    rows = []
    if "latency" in results:
        m = results["latency"]["modes"]
        s, once = m["every=15"], m["once a minute"]
        rows.append([f"Time to chat, steady state ({s['issues']} issues, replies and follow-ups "
                     "on the budget; simulated clock): p50 / p99 s",
                     f"every=15: {s['p50']:.0f} / {s['p99']:.0f}",
                     f"once a minute: {once['p50']:.0f} / {once['p99']:.0f}", "",
                     f"p50 ≤ {latency.TARGET_P50:g}, p99 ≤ {latency.TARGET_P99:g}",
                     verdict(latency.passed(m))])
    if "burst" in results:
        b = {r["side"]: r for r in results["burst"]["results"]}
        n = next(iter(b.values()))
        sides = ("relay-digest", "relay-cards", "baseline")
        rows.append([f"Burst {n['channels']} channels × {n['issues'] // n['channels']} issues: "
                     "issues covered / lost / repeated",
                     *(f"{b[s]['covered']} / {b[s]['lost']} / {b[s]['repeated']}"
                       for s in sides), "zero lost",
                     verdict(all(b[s]["lost"] == 0 and b[s]["repeated"] == 0
                                 for s in ("relay-digest", "relay-cards", "relay-cards-loaded")))])
        rows.append(["Burst: cards delivered", *(b[s]["cards"] for s in sides), "", ""])
        rows.append(["Burst: minutes until all arrived (floor)",
                     *(f"{b[s]['sim_seconds'] / 60:.1f} ({b[s]['floor']['minutes']:.1f})"
                       if b[s]["sim_seconds"] else "never" for s in sides[:2]), "never",
                     f"≤ {burst.FLOOR_RATIO}× floor", " / ".join(
                         verdict(burst.at_floor(b[s]) <= burst.FLOOR_RATIO) for s in sides[:2])])
        rows.append(["Burst: CPU ms per issue handled",
                     *(f"{b[s]['cpu_ms_per_issue']:.3f}" for s in sides), "", ""])
        rows.append([f"CPU share of one core at one bot's {burst.FEISHU_CARDS_PER_MINUTE} cards a "
                     "minute (digest off)", "", f"{burst.cpu_share(b['relay-cards']):.2f} %", "",
                     "no target (bound by rate limits)", ""])
        rows.append(["Burst: peak RSS MB", *(f"{b[s]['peak_rss_mb']:.0f}" for s in sides),
                     "≤ 120", verdict(all(b[s]["peak_rss_mb"] <= 120 for s in sides[:2]))])
        rows.append(["Burst: Feishu refusals (11232) / Guance 401 rate limits",
                     *(f"{b[s]['feishu_refused']} / {b[s]['guance_rate_limited']}"
                       for s in sides), "", ""])
        loaded = b["relay-cards-loaded"]
        rows.append(["Burst beside a CPU-bound process (digest off): refusals / minutes",
                     "", f"{loaded['feishu_refused']} / {loaded['guance_rate_limited']}; "
                     + (f"{loaded['sim_seconds'] / 60:.1f}" if loaded["sim_seconds"] else "never"),
                     "", "zero refusals", verdict(loaded["feishu_refused"] == 0
                                                  and loaded["guance_rate_limited"] == 0
                                                  and loaded["lost"] == 0)])
    if "late" in results:
        r = results["late"]
        rows.append([f"Late runs ({len(r['late_runs'])} late 30–90 s, {r['skipped']} skipped; "
                     f"{r['issues']} issues): lost / repeated",
                     "—", f"{r['relay']['lost']} / {r['relay']['repeated']}",
                     f"{r['baseline']['lost']} / {r['baseline']['repeated']}", "zero for relay",
                     verdict(r["relay"]["lost"] == r["relay"]["repeated"] == 0
                             and r["baseline"]["lost"] + r["baseline"]["repeated"] > 0)])
    if "reply" in results:
        r = results["reply"]
        rows.append([f"Reply endpoint, {r['clients']} clients, {r['seconds']:.0f} s: req/s "
                     "(p50 / p99 ms)", f"{r['rps']:.0f} ({r['p50_ms']:.1f} / {r['p99_ms']:.1f})",
                     "", "", "", ""])
    if "growth" in results:
        g = results["growth"]
        for backend, ratio in g["ratios"].items():
            ms = " → ".join(f"{x['median_ms']:.1f}" for x in g["by_backend"][backend])
            scans = g["full_scans"][backend]
            rows.append([f"Growth {backend}: poll+deliver ms at "
                         + " / ".join(f"{s:,}" for s in g["sizes"]) + " rows",
                         f"{ms} (×{ratio:.2f}; {len(scans) or 'no'} full scans)", "", "",
                         "≤ ×1.5", verdict(ratio <= 1.5)])
    if "follow" in results:
        for r in results["follow"]["by_size"]:
            rows.append([f"Follow {r['followed']:,} issues (list window on {r['window_on']}): "
                         "change → chat p50 / p99 min; tracker calls a cycle (max)",
                         f"{r['p50_s'] / 60:.1f} / {r['p99_s'] / 60:.1f}; "
                         f"{r['track_calls_max']}", "", f"{r['naive_calls']:,} calls a cycle "
                         "(issue/get each)", "≤ 3 calls, 0 × 401", verdict(follow.met(r))])
    if "stream" in results:
        rows += stream_rows(results["stream"])
    if "feishu_long" in results:
        rows += feishu_long_rows(results["feishu_long"])
    table = markdown_table(["figure", "relay (digest on, default)", "relay (digest off)",
                            "naive baseline", "target", "met"], rows)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Measured {stamp} on {machine()}{' (--quick)' if quick else ''}.\n\n{table}\n")


def stream_rows(r: dict) -> list[list]:
    """DingTalk over Stream (first column) beside the HTTP callback path (`/dingtalk/reply`)."""
    s, h = r["stream"], r["http"]
    return [
        [f"DingTalk event → Guance comment, {s['events']} at {r['rate']}/s: p50 / p99 ms; "
         "lost / doubled (Stream; HTTP callback)",
         f"Stream: {s['p50_ms']:.0f} / {s['p99_ms']:.0f}; {s['lost']} / {s['doubled']}",
         f"HTTP: {h['p50_ms']:.0f} / {h['p99_ms']:.0f}; {h['lost']} / {h['doubled']}", "",
         f"p99 ≤ {stream.TARGET_P99_MS:g}, none lost or doubled",
         verdict(s["p99_ms"] <= stream.TARGET_P99_MS and s["lost"] == s["doubled"] == 0)],
        [f"Stream back after the server closes it ({r['back_samples']} closes): p50 / p99 s",
         f"{r['back_p50_s']:.2f} / {r['back_p99_s']:.2f}", "n/a (no connection)", "",
         f"p99 ≤ {stream.TARGET_BACK_S:g}", verdict(r["back_p99_s"] <= stream.TARGET_BACK_S
                                                   and r["back_missing"] == 0)],
        [f"Stream deaf after a half-open connection ({r['deaf_samples']} times): ping intervals",
         f"{r['deaf_max_pings']:.2f}", "", "", f"≤ {stream.TARGET_DEAF_PINGS:g}",
         verdict(r["deaf_max_pings"] <= stream.TARGET_DEAF_PINGS and r["deaf_missing"] == 0)],
        ["relay with the Stream connection open: peak RSS MB; idle CPU % of a core",
         f"{r['peak_rss_mb']:.0f}; {r['idle_cpu_percent']:.2f}", "", "",
         f"≤ {stream.TARGET_RSS_MB:g}; < {stream.TARGET_IDLE_CPU:g}",
         verdict(r["peak_rss_mb"] <= stream.TARGET_RSS_MB
                 and r["idle_cpu_percent"] < stream.TARGET_IDLE_CPU)]]


def feishu_long_rows(r: dict) -> list[list]:
    """Feishu over the long connection (first column) beside `/feishu/events`; the cost of both
    long connections (Feishu's and DingTalk's Stream) open in one relay."""
    x, h, t = r["long"], r["http"], feishu_long
    return [
        [f"Feishu thread reply → Guance comment, {x['events']} at {r['rate']}/s: p50 / p99 ms; "
         "lost / doubled (long connection; HTTP callback)",
         f"long: {x['p50_ms']:.0f} / {x['p99_ms']:.0f}; {x['lost']} / {x['doubled']}",
         f"HTTP: {h['p50_ms']:.0f} / {h['p99_ms']:.0f}; {h['lost']} / {h['doubled']}", "",
         f"p99 ≤ {t.TARGET_P99_MS:g}, none lost or doubled",
         verdict(x["p99_ms"] <= t.TARGET_P99_MS and x["lost"] == x["doubled"] == 0)],
        [f"Feishu long connection back after the server closes it ({r['back_samples']} closes, "
         "ReconnectNonce 0): p50 / p99 s; replies after them lost / doubled",
         f"{r['back_p50_s']:.2f} / {r['back_p99_s']:.2f}; {r['after_close_lost']} / "
         f"{r['after_close_doubled']}", "n/a (no connection)", "", f"p99 ≤ {t.TARGET_BACK_S:g}",
         verdict(r["back_p99_s"] <= t.TARGET_BACK_S and r["back_missing"] == 0
                 and r["after_close_lost"] == r["after_close_doubled"] == 0)],
        [f"Feishu deaf after a half-open connection ({r['deaf_samples']} times, ping "
         f"{t.HALF_OPEN_PING} s): ping intervals", f"{r['deaf_max_pings']:.2f}", "", "",
         f"≤ {t.TARGET_DEAF_PINGS:g}",
         verdict(r["deaf_max_pings"] <= t.TARGET_DEAF_PINGS and r["deaf_missing"] == 0)],
        ["relay with both long connections open (Feishu + DingTalk Stream): peak RSS MB; "
         "idle CPU % of a core", f"{r['peak_rss_mb']:.0f}; {r['idle_cpu_percent']:.2f}", "", "",
         f"≤ {t.TARGET_RSS_MB:g}; < {t.TARGET_IDLE_CPU:g}",
         verdict(r["peak_rss_mb"] <= t.TARGET_RSS_MB
                 and r["idle_cpu_percent"] < t.TARGET_IDLE_CPU)]]


def main() -> None:
    parser = argparse.ArgumentParser(description="Run relay's benchmarks.")
    parser.add_argument("--quick", action="store_true", help="smallest configuration of each")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--write", type=Path, help="also write the markdown summary here "
                        "(default for a full run: bench/results.md)")
    args = parser.parse_args()
    print(f"relay benchmarks on {machine()}")
    started = time.time()
    results = {}
    for part in args.only:
        results[part] = run_part(part, *(["--quick"] if args.quick else []))
    text = summary(results, args.quick)
    print(f"\n== Summary ({time.time() - started:.0f} s)\n\n{text}")
    out = args.write or (None if args.quick or len(args.only) < len(PARTS)
                         else Path(__file__).with_name("results.md"))
    if out:
        out.write_text(text, encoding="utf-8")
        print(f"written to {out}")


if __name__ == "__main__":
    main()
