"""Growth: the time of one poll + deliver cycle (3 new issues) as the outbox grows to 1M rows.

The deliveries table is filled in bulk (INSERT … SELECT over a recursive CTE on SQLite,
generate_series on PostgreSQL) with 30 days of history: mostly `sent`, some `digested` and `dead`,
plus a fixed 50 `pending` rows of a destination that is backing off (pending rows do not pile up
with history: they are sent or go dead within a day). Every query of the cycle should use an
index, so the median cycle time must stay flat: 1M/10k ≤ 1.5.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time

import sqlalchemy as sa

from bench.common import hand_back, markdown_table, quiet_logs, verdict
from relay.clock import FakeClock
from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.runtime import Runtime
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.web.server import WebServer

TARGET_RATIO = 1.5
HISTORY_SECONDS = 30 * 86_400
NEW_PER_CYCLE = 3

SQLITE_FILL = """
WITH RECURSIVE seq(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM seq WHERE n < :hi)
INSERT INTO deliveries (kind, dedupe_key, issue_uuid, destination, channel, issue_created_at,
                        payload, status, attempts, last_error, next_attempt_at, created_at,
                        updated_at, sent_at)
SELECT 'issue', printf('issue_%032x', n), printf('issue_%032x', n), 'team' || (n % 20),
       'team' || (n % 20), :t0 + n * :step,
       json_object('uuid', printf('issue_%032x', n), 'title', 'disk usage high on host-' || n,
                   'level', 'P2', 'source', 'monitor', 'message', 'disk / at 91% on host-' || n,
                   'create_at', :t0 + n * :step, 'channel', 'team' || (n % 20)),
       CASE WHEN n % 97 = 0 THEN 'dead' WHEN n % 31 = 0 THEN 'digested' ELSE 'sent' END,
       CASE WHEN n % 97 = 0 THEN 14 ELSE 1 END,
       CASE WHEN n % 97 = 0 THEN 'HTTP 500 internal error' END,
       :t0 + n * :step, :t0 + n * :step, :t0 + n * :step + 2,
       CASE WHEN n % 97 = 0 OR n % 31 = 0 THEN NULL ELSE :t0 + n * :step + 2 END
FROM seq
"""
POSTGRES_FILL = """
INSERT INTO deliveries (kind, dedupe_key, issue_uuid, destination, channel, issue_created_at,
                        payload, status, attempts, last_error, next_attempt_at, created_at,
                        updated_at, sent_at)
SELECT 'issue', 'issue_' || lpad(to_hex(n), 32, '0'), 'issue_' || lpad(to_hex(n), 32, '0'),
       'team' || (n % 20), 'team' || (n % 20),
       :t0 + n * :step,
       json_build_object('uuid', 'issue_' || lpad(to_hex(n), 32, '0'),
                         'title', 'disk usage high on host-' || n, 'level', 'P2',
                         'source', 'monitor', 'message', 'disk / at 91% on host-' || n,
                         'create_at', :t0 + n * :step, 'channel', 'team' || (n % 20)),
       CASE WHEN n % 97 = 0 THEN 'dead' WHEN n % 31 = 0 THEN 'digested' ELSE 'sent' END,
       CASE WHEN n % 97 = 0 THEN 14 ELSE 1 END,
       CASE WHEN n % 97 = 0 THEN 'HTTP 500 internal error' END,
       :t0 + n * :step, :t0 + n * :step, :t0 + n * :step + 2,
       CASE WHEN n % 97 = 0 OR n % 31 = 0 THEN NULL ELSE :t0 + n * :step + 2 END
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS n
"""


def fill(engine: sa.Engine, lo: int, hi: int, total: int, t0: int) -> None:
    """Rows lo..hi of `total`, spread evenly over the HISTORY_SECONDS before t0."""
    sql = POSTGRES_FILL if engine.dialect.name == "postgresql" else SQLITE_FILL
    step = HISTORY_SECONDS / total
    with engine.begin() as conn:
        for start in range(lo, hi + 1, 200_000):  # keeps one statement's work bounded
            conn.execute(sa.text(sql), {"lo": start, "hi": min(start + 199_999, hi),
                                        "t0": t0 - HISTORY_SECONDS, "step": int(step) or 1})
    # settle as a long-running database would be (autovacuum; WAL checkpoints), so the cycles
    # measure the table's size, not the bulk load's aftermath
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("VACUUM ANALYZE deliveries"))
        else:
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            conn.execute(sa.text("ANALYZE"))


def backing_off(engine: sa.Engine, now: int) -> None:
    """50 pending rows of a destination that failed and waits out its back-off."""
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO deliveries (kind, dedupe_key, issue_uuid, destination, channel,"
            " issue_created_at, payload, status, attempts, last_error, next_attempt_at,"
            " created_at, updated_at) VALUES (:kind, :u, :u, 'team-down', 'team-down', :t, :p, 'pending', 3, 'HTTP 502', :later, :t, :t)"),
            [{"kind": "issue", "u": f"issue_down{i:04d}", "t": now - 600, "later": now + 86_400,
              "p": '{"uuid": "x", "title": "t", "level": "P2", "source": "s", "message": "m", '
                   '"create_at": 0}'} for i in range(50)])


def measure(url: str, sizes: list[int], cycles: int) -> dict:
    """Median poll+deliver cycle time at each table size (the table only grows), and the full
    scans of deliveries, if any, in the cycle's query plans at the largest size."""
    with quiet_logs("relay", "waitress"):
        return _measure(url, sizes, cycles)


def _measure(url: str, sizes: list[int], cycles: int) -> dict:
    clock = FakeClock()
    guance, feishu = FakeGuance("growth-key-0123456789", clock=clock), FakeFeishu(clock=clock)
    servers = [WebServer(guance.app, "127.0.0.1", 0).start(),
               WebServer(feishu.app, "127.0.0.1", 0).start()]
    rt = Runtime(Settings(_env_file=None, guance_base_url=servers[0].url,
                          guance_api_key=guance.api_key, guance_calls_per_minute=1000,
                          feishu_webhook_url=f"{servers[1].url}/flow/api/trigger-webhook/ops",
                          database_url=url), clock=clock)

    def one_cycle() -> float:
        """A minute with a few new issues, then poll + deliver; returns its seconds."""
        clock.advance(30)
        for _ in range(NEW_PER_CYCLE):
            guance.add_issue("disk usage high")
        clock.advance(30)
        started = time.perf_counter()
        poll(rt)
        deliver(rt)
        return time.perf_counter() - started

    results = []
    try:
        backing_off(rt.engine, int(clock.now()))
        poll(rt)  # starts the cursor
        filled = 0
        for size in sizes:
            started = time.perf_counter()
            fill(rt.engine, filled + 1, size, sizes[-1], int(clock.now()))
            fill_seconds = time.perf_counter() - started
            filled = size
            with rt.engine.connect() as conn:
                rows = conn.scalar(sa.text("SELECT count(*) FROM deliveries"))
            times = [one_cycle() for _ in range(cycles + 3)][3:]  # three warm-up cycles
            results.append({"rows": rows, "fill_seconds": round(fill_seconds, 1),
                            "median_ms": round(1000 * statistics.median(times), 2),
                            "p90_ms": round(1000 * sorted(times)[int(0.9 * (len(times) - 1))],
                                            2)})
        scans = full_scans(rt.engine, one_cycle)
        sent = len(feishu.received)
    finally:
        rt.close()
        for server in servers:
            server.stop()
    expected = (len(sizes) * (cycles + 3) + 1) * NEW_PER_CYCLE
    if sent != expected:
        raise RuntimeError(f"growth: {sent} cards arrived, {expected} expected")
    return {"results": results, "full_scans": scans}


def full_scans(engine: sa.Engine, cycle) -> list[str]:
    """Run one cycle while recording its SQL, then ask the database how it runs each statement
    that reads deliveries: any full scan of the table is listed (an index is missing)."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "deliveries" in statement and statement.lstrip().upper().startswith(
                ("SELECT", "UPDATE", "DELETE")) and not executemany:
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        cycle()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    postgres = engine.dialect.name == "postgresql"
    scans = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            explain = ("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + statement
            plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql(explain, parameters))
            # SQLite: SEARCH uses an index to find rows, SCAN reads the whole table or index
            if ("Seq Scan on deliveries" in plan if postgres
                    else re.search(r"\bSCAN deliveries\b", plan)):
                scans.append(f"{' '.join(statement.split())[:120]} → {plan}")
    return sorted(set(scans))


def with_postgres(sizes: list[int], cycles: int) -> dict | None:
    """The same on a throw-away PostgreSQL server (Debian's binaries), or None without them."""
    from tests.postgres import PostgresServer, find_bin

    bindir = find_bin()
    if bindir is None:
        print("  PostgreSQL: server binaries not installed (apt-get install postgresql); skipped")
        return None
    server = PostgresServer(bindir)
    try:
        url = server.start()
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE "growth"'))
        admin.dispose()
        return measure(url.rsplit("/", 1)[0] + "/growth", sizes, cycles)
    finally:
        server.stop()


def run(sizes: list[int], cycles: int, postgres: bool = True) -> dict:
    print(f"\n== Growth: one poll + deliver cycle ({NEW_PER_CYCLE} new issues) as the outbox "
          f"holds {', '.join(f'{s:,}' for s in sizes)} rows; median of {cycles} cycles")
    measured = {}
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        measured["SQLite"] = measure(f"sqlite:///{tmp}/growth.db", sizes, cycles)
    if postgres:
        pg = with_postgres(sizes, cycles)
        if pg:
            measured["PostgreSQL"] = pg
    by_backend = {backend: m["results"] for backend, m in measured.items()}
    scans = {backend: m["full_scans"] for backend, m in measured.items()}
    rows, ratios = [], {}
    for backend, results in by_backend.items():
        ratios[backend] = results[-1]["median_ms"] / results[0]["median_ms"]
        for r in results:
            rows.append([backend, f"{r['rows']:,}", r["median_ms"], r["p90_ms"],
                         r["fill_seconds"]])
    print(markdown_table(["database", "rows", "cycle median ms", "cycle p90 ms",
                          "fill s"], rows))
    for backend, ratio in ratios.items():
        print(f"  {backend}: {sizes[-1]:,}/{sizes[0]:,} rows cycle-time ratio {ratio:.2f} "
              f"(target ≤ {TARGET_RATIO}): {verdict(ratio <= TARGET_RATIO)}")
    for backend, found in scans.items():
        print(f"  {backend} query plans of a cycle at {sizes[-1]:,} rows: "
              + ("no full scan of deliveries" if not found else "FULL SCANS:"))
        for line in found:
            print(f"    {line}")
    return {"sizes": sizes, "by_backend": by_backend, "ratios": ratios, "full_scans": scans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000]
    hand_back(run(sizes, 10 if args.quick else 30, not args.no_postgres))


if __name__ == "__main__":
    main()
