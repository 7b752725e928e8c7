"""The delivery log page's picture: cards per hour by level and the delivery latency over the last
day, as server-rendered SVG, read with a bounded query on an index; seen in headless Chromium."""

from __future__ import annotations

import re

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.web.app import create_app
from relay.web.chart import BUCKETS, build, hourly_query, quantile
from relay.web.server import WebServer
from relay.web.ui import cookie_value
from tests.helpers import EN, ZH
from tests.web.test_ui import UI_TOKEN, browser  # noqa: F401  (the Chromium fixture)

LEVELS = ["system_level_0", "system_level_1", "system_level_2", "system_level_3"]
NAMES = {"system_level_0": "P0", "system_level_1": "P1", "system_level_2": "P2",
         "system_level_3": "Unknown"}


def a_day_of_cards(rt, guance, clock) -> dict[int, dict]:
    """24 hours of alerts: in hour h, 1 + h % 4 issues of cycling levels, each card sent 30 s
    (even hours) or 300 s (odd hours) after Guance created it. What each hour should show."""
    poll(rt)
    start = clock.now()
    expected = {}
    for hour in range(24):
        clock.advance(start + hour * 3600 + 60 - clock.now())
        levels = [LEVELS[(hour + i) % 4] for i in range(1 + hour % 4)]
        for i, level in enumerate(levels):
            guance.add_issue(f"hour {hour} issue {i}", level=level)
        delay = 30 if hour % 2 == 0 else 300
        clock.advance(delay)
        poll(rt)
        deliver(rt)
        expected[hour] = {"levels": [NAMES[lvl] for lvl in levels], "delay": delay}
    return expected


def bar_tips(chart) -> dict[str, int]:
    """"HH:MM level" → cards, read back from the bars' tooltips."""
    tips = {}
    for bar in chart.bars:
        hour, count, level = re.fullmatch(r"(\d\d:\d\d): (\d+) card\(s\) (.+)", bar["tip"]).groups()
        tips[f"{hour} {level}"] = int(count)
    return tips


def test_quantiles_are_read_from_the_buckets():
    counts = [0] * (len(BUCKETS) + 1)
    counts[BUCKETS.index(30)] = 10  # ten cards between 20 and 30 s
    assert quantile(counts, 0.5) == 25.0 and quantile(counts, 0.9) == 29.0
    counts[BUCKETS.index(1800)] = 10  # and ten between 1200 and 1800 s
    assert 20 < quantile(counts, 0.5) <= 30 and 1200 < quantile(counts, 0.9) <= 1800
    counts = [0] * len(BUCKETS) + [3]  # slower than a day: the last bound is all we know
    assert quantile(counts, 0.9) == BUCKETS[-1]
    assert quantile([0] * (len(BUCKETS) + 1), 0.5) == 0.0


def check_day(rt, guance, clock):
    expected = a_day_of_cards(rt, guance, clock)
    chart = build(rt.engine, clock.now(), rt.settings.tz, EN)
    assert chart.total == sum(len(e["levels"]) for e in expected.values()) == 60
    tips = bar_tips(chart)
    # Asia/Shanghai: hour 0 of the fake clock's day (00:00 UTC) is 08:00
    assert tips["08:00 P0"] == 1 and "08:00 P1" not in tips
    assert tips["11:00 P1"] == 1 and tips["11:00 Unknown"] == 1 and tips["11:00 P0"] == 1
    assert sum(tips.values()) == 60
    assert len(chart.dots) == 24
    by_hour = {d["tip"][:5]: d["tip"] for d in chart.dots}
    assert re.fullmatch(r"08:00: p50 2\d s, p90 [23]\d s \(1 card\(s\)\)", by_hour["08:00"])
    p50, p90 = map(float, re.fullmatch(r"09:00: p50 ([\d.]+) min, p90 ([\d.]+) min \(2 card\(s\)\)",
                                       by_hour["09:00"]).groups())
    assert 4 < p50 <= p90 <= 5  # 300 s, within its bucket (240, 300]
    return chart


def test_a_day_of_cards_is_counted_per_hour_and_level_with_its_latency(make_runtime, guance,
                                                                       clock):
    check_day(make_runtime(), guance, clock)


def test_the_chart_reads_the_same_on_postgres(make_runtime, postgres_url, guance, clock):
    check_day(make_runtime(database_url=postgres_url), guance, clock)


def test_the_query_reads_a_range_of_the_sent_at_index_not_the_whole_outbox(make_runtime):
    rt = make_runtime()
    compiled = hourly_query(1_767_225_600).compile(rt.engine)
    params = tuple(compiled.params[name] for name in compiled.positiontup)
    with rt.engine.connect() as conn:
        plan = " / ".join(row[-1] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), params))
    assert "USING INDEX ix_deliveries_sent_at (sent_at>? AND sent_at<?)" in plan, plan
    assert "SCAN deliveries" not in plan, plan


def test_an_empty_day_says_so_and_labels_are_escaped(make_runtime, guance, clock):
    rt = make_runtime(ui_token=UI_TOKEN)
    client = create_app(rt).test_client()
    client.set_cookie("relay_ui", cookie_value(UI_TOKEN))
    html = client.get("/").get_data(as_text=True)
    assert 'id="chart-none"' in html and "No cards sent in the last 24 hours." in html
    poll(rt)
    clock.advance(30)
    guance.add_issue("odd level", level="issl_<b>x</b>")  # a custom level's own name
    clock.advance(30)
    poll(rt)
    deliver(rt)
    svg = client.get("/").get_data(as_text=True).split('<svg id="chart"')[1].split("</svg>")[0]
    assert "issl_&lt;b&gt;x&lt;/b&gt;" in svg and "<b>" not in svg
    assert 'id="chart-none"' not in svg and svg.count('class="bar"') == 1
    assert "<script" not in svg


@pytest.mark.parametrize("language, text", [("en", EN), ("zh-CN", ZH)])
def test_in_chromium_the_chart_shows_a_day_in_either_language(language, text, make_runtime,
                                                              guance, clock, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    rt = make_runtime(ui_token=UI_TOKEN, language=language)
    a_day_of_cards(rt, guance, clock)
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        browser.get(f"{server.url}/?token={UI_TOKEN}")
        chart = browser.find_element(By.ID, "chart")
        assert chart.size["width"] > 600 and chart.size["height"] > 300  # drawn, not collapsed
        labels = chart.find_element(By.ID, "chart-cards").text
        assert text("chart.cards_title") in labels
        assert text("level.unknown") in labels and "P0" in labels and "08:00" in labels
        latency = chart.find_element(By.ID, "chart-latency").text
        assert text("chart.latency_title") in latency and text("chart.p50") in latency
        assert len(chart.find_elements(By.CSS_SELECTOR, "rect.bar")) == 60
        assert len(chart.find_elements(By.CSS_SELECTOR, "g.hour")) == 24
        assert browser.find_element(By.TAG_NAME, "h1").text == text("page.heading")
        browser.save_screenshot(f"/tmp/relay-chart-{language}.png")
    finally:
        server.stop()
