"""Several replicas on one PostgreSQL database: each card exactly once, one Guance budget.

The scenario test runs three real `relay run` processes against the project's fake Guance and
Feishu, SIGKILLs one of them midway and counts what Feishu received. The unit tests check the two
mechanisms underneath (leases and the shared call budget) on PostgreSQL and on SQLite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from relay.clock import FakeClock
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.ratelimit import LimitExceeded
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread
from relay.store import outbox as store
from relay.store.base import make_engine, migrate
from relay.store.budget import SharedRateLimiter
from relay.store.leases import Leases
from tests.helpers import free_port

CHANNELS = 20
ISSUES = 2000
REPLICAS = 3
TICK_SECONDS = 1.0  # the crontab's "each minute", squeezed to a second for the test
CALLS_PER_MINUTE = 100  # three private budgets would overrun the fake Guance within the test

# The real `relay run`, with each crontab line firing every TICK seconds instead of each minute,
# and Feishu's per-bot send limit (5/s, 100/min) raised: the test is about claims, not about
# waiting out Feishu's limits for 2,000 cards.
FAST_RUN = """
import os, sys
from apscheduler.triggers.interval import IntervalTrigger
import relay.platforms.feishu.webhook, relay.pipeline.schedule
_parse_line = relay.pipeline.schedule.parse_line
def parse_line(*args, **kwargs):
    entry = _parse_line(*args, **kwargs)
    entry.trigger = IntervalTrigger(seconds=float(os.environ["RELAY_TEST_TICK_SECONDS"]))
    return entry
relay.pipeline.schedule.parse_line = parse_line
relay.platforms.feishu.webhook.FlowWebhookSink.limits = [(100, 1.0), (5000, 60.0)]
from relay.cli import main
sys.exit(main(["run"]))
"""


# -- leases -------------------------------------------------------------------------------------

def test_a_lease_is_exclusive_until_it_runs_out(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    clock = FakeClock()
    one, two = (Leases(engine, 30, clock, owner=f"replica-{n}") for n in (1, 2))
    assert one.claim("poll:chan_a")
    assert not two.claim("poll:chan_a")  # held
    assert not one.claim("poll:chan_a")  # not even twice by its holder
    assert two.claim("poll:chan_b")  # other work is free
    clock.advance(20)
    assert one.renew("poll:chan_a")
    clock.advance(20)
    assert not two.claim("poll:chan_a")  # renewed: 30 s from the renewal
    clock.advance(11)  # the holder died without a word: its lease ran out
    assert two.claim("poll:chan_a")
    assert not one.renew("poll:chan_a")  # the old holder learns it lost the work
    two.release("poll:chan_a")
    assert one.claim("poll:chan_a")
    engine.dispose()


# -- the shared Guance budget -------------------------------------------------------------------

def test_replicas_share_one_guance_budget(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    clock = FakeClock()
    replicas = [SharedRateLimiter(make_engine(database_url), "key-hash", [(20, 61.0)], clock)
                for _ in range(3)]
    granted = Counter()

    def spend(n: int) -> None:
        for _ in range(20):
            try:
                replicas[n].acquire()
                granted[n] += 1
            except LimitExceeded:
                pass

    threads = [threading.Thread(target=spend, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted.values()) == 20  # not 60: the key's limit, whoever asks
    with pytest.raises(LimitExceeded) as waited:
        replicas[0].acquire()
    assert 0 < waited.value.wait <= 62  # 61 s, and a call counts for its whole second
    clock.advance(62)
    replicas[1].acquire()  # the window moved on
    replicas[2].block(60)  # Guance said "rate limited" to one replica: all of them pause
    with pytest.raises(LimitExceeded):
        replicas[0].acquire()
    assert replicas[0].used(61) == 1
    for limiter in replicas:
        limiter.engine.dispose()
    engine.dispose()


# -- two runtimes in one process, real threads --------------------------------------------------

def test_two_replicas_polling_and_sending_at_once_send_each_card_once(
        make_runtime, postgres_url, guance, feishu, clock):
    routes = {}
    for n in range(4):
        guance.add_channel(f"team{n}")
        routes[f"team{n}"] = [f"dest{n}"]
    settings = dict(database_url=postgres_url, channels=",".join(routes), routes=routes,
                    storm_threshold=1000, destinations={
                        f"dest{n}": f"{feishu.url}/flow/api/trigger-webhook/hook{n}"
                        for n in range(4)})
    replicas = [make_runtime(**settings), make_runtime(**settings)]
    for rt in replicas:
        poll(rt)  # the first polls start the cursors
    clock.advance(5)
    expected = {guance.add_issue(f"issue {i}", channels=[f"team{i % 4}"]) for i in range(120)}
    clock.advance(5)

    def work(rt):
        poll(rt)
        deliver(rt)

    threads = [threading.Thread(target=work, args=(rt,)) for rt in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for rt in replicas:
        deliver(rt)  # whatever one skipped while the other held it
    sent = Counter(body["issue_uuid"] for _, body in feishu.received)
    assert set(sent) == expected
    assert max(sent.values()) == 1


# -- three `relay run` processes, one SIGKILLed -------------------------------------------------

def test_three_replicas_deliver_2000_issues_once_with_one_killed(tmp_path, postgres_url):
    began = time.monotonic()
    guance = FakeGuance(api_key="replica-test-key-123456", calls_per_minute=CALLS_PER_MINUTE)
    feishu = FakeFeishu()
    servers = [ServerThread(guance.app), ServerThread(feishu.app)]
    names = [f"team{n:02d}" for n in range(CHANNELS)]
    for name in names:
        guance.add_channel(name)
    crontab = tmp_path / "crontab"
    crontab.write_text("* * * * * poll_issues\n* * * * * deliver max_seconds=5\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(
        RELAY_GUANCE_BASE_URL=servers[0].url, RELAY_GUANCE_API_KEY=guance.api_key,
        RELAY_CHANNELS=",".join(names), RELAY_ROUTES=json.dumps({n: [n] for n in names}),
        RELAY_DESTINATIONS=json.dumps({
            n: f"{servers[1].url}/flow/api/trigger-webhook/hook-{n}" for n in names}),
        RELAY_DATABASE_URL=postgres_url, RELAY_REPLY_TOKEN="replica-reply-token",
        RELAY_CRONTAB=str(crontab), RELAY_STORM_THRESHOLD="100000",
        RELAY_GUANCE_CALLS_PER_MINUTE=str(CALLS_PER_MINUTE), RELAY_LEASE_SECONDS="3",
        RELAY_TEST_TICK_SECONDS=str(TICK_SECONDS))
    engine = sa.create_engine(postgres_url)
    logs = [tmp_path / f"replica{n}.log" for n in range(REPLICAS)]
    procs = [subprocess.Popen([sys.executable, "-c", FAST_RUN], cwd=tmp_path,
                              env=dict(env, RELAY_PORT=str(free_port())),
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
             for log in logs]
    victim: list[int] = []  # the replica to kill, once chosen
    try:
        def wait_for(what: str, done, seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while not done():
                dead = [n for n, p in enumerate(procs) if p.poll() is not None
                        and n not in victim]
                assert not dead, f"a replica exited while waiting for {what}: " + \
                    "\n".join(log.read_text()[-2000:] for log in logs)
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.1)

        def cursors() -> int:
            try:
                with engine.connect() as conn:
                    return conn.scalar(sa.text("SELECT count(*) FROM channel_cursors"))
            except sa.exc.ProgrammingError:  # not migrated yet
                return 0

        wait_for("the first polls", lambda: cursors() == CHANNELS, 30)
        started = time.monotonic()
        expected = {(f"hook-{names[i % CHANNELS]}",
                     guance.add_issue(f"replica test {i}", channels=[names[i % CHANNELS]]))
                    for i in range(ISSUES)}
        wait_for("a third of the cards", lambda: len(feishu.received) >= ISSUES // 3, 40)
        def sending_replica() -> bool:
            """A replica holding a destination's lease that has sent cards already."""
            with engine.connect() as conn:
                owners = conn.scalars(sa.text(
                    "SELECT owner FROM leases WHERE name LIKE 'deliver:%'")).all()
            pids = {int(owner.split(":")[1]) for owner in owners}
            victim[:] = [n for n, p in enumerate(procs)
                         if p.pid in pids and " delivered issue_" in logs[n].read_text()][:1]
            return bool(victim)

        wait_for("a replica in the middle of sending", sending_replica, 20)
        killed = victim[0]
        procs[killed].kill()  # SIGKILL, mid-delivery
        procs[killed].wait(10)
        killed_at = len(feishu.received)

        def received() -> set:
            return {(hook, body["issue_uuid"]) for hook, body in list(feishu.received)}

        wait_for("every card", lambda: received() >= expected, 40)
        took = time.monotonic() - started
        time.sleep(2 * TICK_SECONDS)  # a late duplicate would arrive now
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(20) for proc in procs]
        for server in servers:
            server.stop()
    cards = Counter((hook, body["issue_uuid"]) for hook, body in feishu.received)
    repeats = sum(cards.values()) - len(cards)
    sent_by = [log.read_text().count(" delivered issue_") for log in logs]
    budget_waits = sum(log.read_text().count("call budget used up") for log in logs)
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM deliveries GROUP BY status")).all())
    engine.dispose()
    print(f"\n{ISSUES} issues over {CHANNELS} channels, {REPLICAS} replicas: all delivered "
          f"{took:.1f} s after they were made; replica {killed} SIGKILLed after {killed_at} "
          "cards; "
          f"cards sent by replica {sent_by}; repeats {repeats}; Guance calls "
          f"{len(guance.calls)} (most in one minute {guance.calls_in_any_minute()}, limit "
          f"{CALLS_PER_MINUTE}, refused {guance.rate_limited}, budget waits {budget_waits}); "
          f"total {time.monotonic() - began:.1f} s")
    assert codes == [-signal.SIGKILL if n == killed else 0 for n in range(REPLICAS)]
    assert set(cards) == expected  # none lost, none made up
    assert repeats <= 1  # at most the one card the killed replica had in flight
    assert statuses == {"sent": ISSUES}
    assert sent_by[killed] and sum(sent_by) - sent_by[killed], "the work was shared"
    assert guance.rate_limited == 0  # one budget for three replicas
    assert guance.calls_in_any_minute() <= CALLS_PER_MINUTE


def test_work_another_replica_holds_waits_until_its_lease_runs_out(make_runtime, guance, feishu,
                                                                   clock):
    rt = make_runtime(lease_seconds=30)
    poll(rt)
    clock.advance(5)
    guance.add_issue("disk full")
    other = Leases(rt.engine, 30, clock, owner="other-host:4242:0a1b2c3d")  # a replica elsewhere
    assert other.claim("deliver:default")
    clock.advance(5)
    poll(rt)
    assert deliver(rt).sent == 0 and feishu.received == []  # the other replica sends these
    clock.advance(31)  # it died without releasing: its lease ran out
    assert deliver(rt).sent == 1
    assert not other.renew("deliver:default")  # and it would learn it lost the destination
    guance.add_issue("disk fuller")
    assert other.claim("poll:" + next(iter(store.cursors(rt.engine))))
    clock.advance(5)
    assert poll(rt).busy == ["default"]  # a channel being polled elsewhere is skipped


def test_the_shared_budget_keeps_a_row_per_second_not_per_call(database_url):
    """A high budget (a busy reply endpoint) must not make each grant read every call."""
    from sqlalchemy import func, select

    from relay.store.budget import GuanceCall

    engine = make_engine(database_url)
    migrate(engine)
    clock = FakeClock()
    budget = SharedRateLimiter(engine, "key-hash", [(100_000, 61.0)], clock)
    for _ in range(70):  # 70 s at 20 calls a second
        for _ in range(20):
            budget.acquire()
        clock.advance(1.0)
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(GuanceCall))
    assert rows <= 63  # the window's seconds, not its 1,220 calls
    assert budget.used(61.0) in range(1220, 1241)
    engine.dispose()
