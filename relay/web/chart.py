"""The delivery log page's picture: cards sent per hour over the last day, stacked by level, and
the delivery latency (issue created in Guance → card accepted by the chat) as p50/p90 per hour.

One query, bounded by the last 24 hours of `sent_at` (indexed: ix_deliveries_sent_at), grouped in
the database by hour, level and latency bucket, so it returns at most 24 × levels × buckets rows
whatever the size of the outbox. p50/p90 are read from the buckets (linear within a bucket, as
Prometheus' histogram_quantile does). The page draws the result as SVG shapes (no JavaScript);
this module only computes their geometry and labels, the template escapes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Integer, Select, case, func, literal_column, select

from relay.i18n import UNKNOWN_LEVEL, Text
from relay.pipeline.digest import level_rank
from relay.store.outbox import Delivery

HOURS = 24
# upper bounds (seconds) of the latency buckets; one more bucket holds everything slower
BUCKETS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200,
           1800, 2700, 3600, 5400, 7200, 14400, 21600, 43200, 86400)
# Guance's own level colours (issue-level/list); custom levels take the palette in turn
LEVEL_COLOURS = {"P0": "#E94444", "P1": "#FF7931", "P2": "#FFB44A", UNKNOWN_LEVEL: "#C9C9C9"}
# the latency axis' top: the first of these at or above the slowest p90 (its half reads well too)
LATENCY_TOPS = (10, 20, 30, 60, 120, 240, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400)
PALETTE = ("#5B8FF9", "#61DDAA", "#7262FD", "#F6BD16", "#78D3F8", "#9661BC")
# the drawing: plot area inside each panel, in SVG units
WIDTH, LEFT, RIGHT, PANEL, TOP, BOTTOM = 760, 64, 16, 150, 28, 30


def hourly_query(since: int) -> Select:
    """(hour since `since`, level, latency bucket, cards) of the cards sent in the 24 hours from
    `since`. Constants are literal SQL and the GROUP BY names the labels, so PostgreSQL sees the
    same expressions in SELECT and GROUP BY."""
    latency = Delivery.sent_at - Delivery.issue_created_at
    bucket = case(*[(latency <= literal_column(str(b)), literal_column(str(i)))
                    for i, b in enumerate(BUCKETS)], else_=literal_column(str(len(BUCKETS))))
    # integer division on both databases (SQLAlchemy's // needs FLOOR, not in every SQLite)
    hour = literal_column(f"({Delivery.__tablename__}.sent_at - {int(since)}) / 3600", Integer)
    query = (select(hour.label("hour"), Delivery.payload["level"].as_string().label("level"),
                    bucket.label("bucket"), func.count().label("cards"))
             .where(Delivery.sent_at >= since, Delivery.sent_at < since + HOURS * 3600)
             .group_by("hour", "level", "bucket"))
    return query


def hourly(engine: Engine, since: int) -> list[tuple[int, str, int, int]]:
    with engine.connect() as conn:
        return [(int(h), lvl or UNKNOWN_LEVEL, int(b), int(n))
                for h, lvl, b, n in conn.execute(hourly_query(since))]


def quantile(counts: list[int], q: float) -> float:
    """The q-quantile (seconds) of a latency histogram over BUCKETS."""
    rank, seen = q * sum(counts), 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            lower = BUCKETS[i - 1] if i else 0
            if i == len(BUCKETS):  # slower than the last bound: the bound is all we know
                return float(lower)
            return lower + (BUCKETS[i] - lower) * (rank - seen) / n
        seen += n
    return 0.0


def duration(seconds: float, text: Text) -> str:
    if seconds < 120:
        return text("chart.seconds", n=round(seconds))
    if seconds < 7200:
        return text("chart.minutes", n=f"{seconds / 60:.3g}")
    return text("chart.hours", n=f"{seconds / 3600:.3g}")


def count_top(value: int) -> int:
    """The cards axis' top: the smallest of 2, 4, 10, 20, 40, 100, … at or above value, so that
    its half is a whole number of cards too."""
    step = 1
    while True:
        for top in (2 * step, 4 * step, 10 * step):
            if top >= value:
                return top
        step *= 10


@dataclass
class Chart:
    """What the template draws: everything in SVG units, every text a label to escape."""

    width: int = WIDTH
    left: int = LEFT
    right: int = WIDTH - RIGHT
    base1: int = TOP + PANEL  # the cards panel's x axis
    base2: int = 2 * (TOP + PANEL) + BOTTOM + 8  # the latency panel's x axis
    height: int = 2 * (TOP + PANEL + BOTTOM) + 8
    total: int = 0
    bars: list[dict] = field(default_factory=list)  # x, y, w, h, colour, tip
    legend: list[dict] = field(default_factory=list)  # x, colour, name
    hours: list[dict] = field(default_factory=list)  # x, label (both panels)
    count_ticks: list[dict] = field(default_factory=list)  # y, label
    latency_ticks: list[dict] = field(default_factory=list)  # y, label
    p50: str = ""  # polyline points
    p90: str = ""
    dots: list[dict] = field(default_factory=list)  # x, y50, y90, tip


def build(engine: Engine, now: float, tz: ZoneInfo, text: Text) -> Chart:
    end = (int(now) // 3600 + 1) * 3600  # the end of the current hour
    since = end - HOURS * 3600
    cards: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latency: dict[int, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
    for hour, level, bucket, n in hourly(engine, since):
        cards[hour][level] += n
        latency[hour][bucket] += n
    chart = Chart(total=sum(sum(levels.values()) for levels in cards.values()))
    levels = sorted({lvl for by in cards.values() for lvl in by}, key=level_rank)
    colours = {lvl: PALETTE[i % len(PALETTE)]
               for i, lvl in enumerate(lvl for lvl in levels if lvl not in LEVEL_COLOURS)}
    colours.update({lvl: LEVEL_COLOURS[lvl] for lvl in levels if lvl in LEVEL_COLOURS})
    slot = (WIDTH - LEFT - RIGHT) / HOURS
    labels = [datetime.fromtimestamp(since + h * 3600, tz).strftime("%H:%M") for h in range(HOURS)]
    chart.hours = [{"x": LEFT + h * slot + slot / 2, "label": labels[h]}
                   for h in range(0, HOURS, 3)]
    chart.legend = [{"x": WIDTH - RIGHT - 70 * (len(levels) - i), "colour": colours[lvl],
                     "name": text.level(lvl)} for i, lvl in enumerate(levels)]
    top = count_top(max([sum(by.values()) for by in cards.values()] + [1]))
    base = chart.base1
    chart.count_ticks = [{"y": base - PANEL * f, "label": str(int(top * f))} for f in (0, 0.5, 1)]
    for h, by in cards.items():
        y = base
        for lvl in levels:
            if by.get(lvl):
                height = PANEL * by[lvl] / top
                y -= height
                chart.bars.append({"x": LEFT + h * slot + 2, "y": y, "w": slot - 4, "h": height,
                                   "colour": colours[lvl], "tip": text(
                                       "chart.bar_tip", hour=labels[h], count=by[lvl],
                                       level=text.level(lvl))})
    quantiles = {h: (quantile(c, 0.5), quantile(c, 0.9), sum(c)) for h, c in latency.items()}
    worst = max([p90 for _, p90, _ in quantiles.values()] + [1])
    slowest = next((top for top in LATENCY_TOPS if top >= worst), LATENCY_TOPS[-1])
    base2 = chart.base2
    chart.latency_ticks = [{"y": base2 - PANEL * f, "label": duration(slowest * f, text)}
                           for f in (0, 0.5, 1)]
    points50, points90 = [], []
    for h in sorted(quantiles):
        p50, p90, n = quantiles[h]
        x = LEFT + h * slot + slot / 2
        y50, y90 = base2 - PANEL * p50 / slowest, base2 - PANEL * p90 / slowest
        points50.append(f"{x:.1f},{y50:.1f}")
        points90.append(f"{x:.1f},{y90:.1f}")
        chart.dots.append({"x": x, "y50": y50, "y90": y90, "tip": text(
            "chart.latency_tip", hour=labels[h], p50=duration(p50, text),
            p90=duration(p90, text), count=n)})
    chart.p50, chart.p90 = " ".join(points50), " ".join(points90)
    return chart
