"""The benchmarks' smallest configuration, so bench/ does not rot between full runs.

No timing is asserted here (speed is measured in bench/, on a quiet machine); only that the
measurements still tell relay from the naive baseline: relay loses and repeats nothing, the
baseline's losses are seen."""

from __future__ import annotations

from bench import burst, feishu_long, follow, growth, late, latency, stream


def test_late_runs_tell_relay_from_the_baseline():
    result = late.run(late.QUICK_RUNS, late.QUICK_SCHEDULE, channels=1)
    assert result["relay"]["lost"] == 0 and result["relay"]["repeated"] == 0
    assert result["relay"]["covered"] == result["issues"] > 0
    assert result["baseline"]["lost"] > 0 and result["baseline"]["repeated"] > 0


def test_time_to_chat_runs_both_schedules_and_spreading_the_polls_is_faster():
    result = latency.run(minutes=6)
    for mode in ("every=15", "once a minute"):
        r = result[mode]
        assert r["issues"] > 0 and r["lost"] == r["repeated"] == r["guance_rate_limited"] == 0, r
    assert result["every=15"]["p50"] < result["once a minute"]["p50"]  # simulated seconds


def test_burst_relay_covers_every_issue_once_and_the_baseline_loses_some():
    for side in ("relay-digest", "relay-cards"):
        r = burst.measure(side, channels=2, per_channel=12, speed=60, max_minutes=5)
        assert (r["covered"], r["lost"], r["repeated"]) == (24, 0, 0), r
        assert r["cards"] == (2 if side == "relay-digest" else 24)
        assert burst.floor(2, 12, side == "relay-digest")["calls"] == 2
    base = burst.measure("baseline", channels=2, per_channel=12, speed=1)
    assert base["lost"] > 0 and base["feishu_refused"] == base["lost"]  # 5 a second per bot


def test_growth_cycle_runs_on_a_filled_outbox():
    result = growth.run([200, 400], cycles=2, postgres=False)
    # 50 pending rows of a destination backing off + the fill + 3 new issues a cycle (+3 warm-up)
    assert [r["rows"] for r in result["by_backend"]["SQLite"]] == [250, 465]


def test_follow_tells_every_change_within_the_budget():
    result = follow.run(follow.QUICK_SIZES)
    assert result["ok"], result


def test_stream_events_arrive_once_on_both_paths_and_the_connection_comes_back():
    result = stream.run(**stream.QUICK)
    for path in ("stream", "http"):
        r = result[path]
        assert r["events"] > 0 and r["lost"] == r["doubled"] == 0, (path, r)
    assert result["back_missing"] == 0 and result["back_samples"] == stream.QUICK["drops"]
    assert result["deaf_missing"] == 0 and result["deaf_samples"] == stream.QUICK["half_opens"]


def test_feishu_replies_arrive_once_over_the_long_connection_and_over_http():
    result = feishu_long.run(**feishu_long.QUICK)
    assert result["cards"] == 20  # one card per issue: each reply goes into its card's thread
    for path in ("long", "http"):
        r = result[path]
        assert r["events"] > 0 and r["lost"] == r["doubled"] == 0, (path, r)
    assert result["back_missing"] == 0 and result["back_samples"] == feishu_long.QUICK["drops"]
    assert result["after_close_lost"] == result["after_close_doubled"] == 0
    assert result["deaf_missing"] == 0
    assert result["deaf_samples"] == feishu_long.QUICK["half_opens"]
