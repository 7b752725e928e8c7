"""Crash safety: the real `relay poll` process, SIGKILLed at many points of a poll+deliver cycle and
started again, loses no issue and repeats at most one card per kill.

Guance and Feishu are the project's fakes on 127.0.0.1 (real clock). The channel cursors run with
RELAY_OVERLAP_SECONDS=0, so the cursor alone must cover every issue (an overlap would hide a cursor
that moved too early). Kill points, one per round, each followed by a fresh start in the next round:

* timer      — SIGKILL after a delay spread over start-up, the poll and the first delivery bursts;
* guance     — SIGKILL when the n-th issue-list request arrives, before Guance answers (mid-poll);
* card-lost  — SIGKILL when the n-th card arrives; Feishu drops it (the card never went out);
* card-acked — SIGKILL after Feishu took the n-th card, before relay hears "yes";
* commit     — the process SIGKILLs itself just before its n-th database commit (the migration
               check, call-budget grants, work leases, the channels' polls, the `sent` marks).

RELAY_STORM_THRESHOLD is set out of reach, so every issue is its own card and can be checked off.

Nothing here depends on how fast the machine is (CI machines are shared): a round that kills at
the n-th card is given at least n new cards, whatever the timer rounds before it left unsent; and
after every run the fakes are settled — each connection the killed process opened has been
accepted and answered — before its cards are counted, so a card still in flight when the process
died is counted in its own round, not in the next one.
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

import requests
import sqlalchemy as sa
from flask import request

from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread

HOOKS = {"ops": "hook-ops-crash-0001", "db": "hook-db-crash-0002"}  # destination → webhook id
CHANNEL_SETS = [["ops"], ["db"], ["ops", "db"]]
FEISHU_LATENCY = 0.02  # seconds Feishu takes to answer, so kills also land between "took" and "yes"

# Runs the real CLI, SIGKILLing itself just before the n-th database commit (RELAY_TEST_KILL_COMMIT).
KILL_AT_COMMIT = """
import os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
_target, _seen = int(os.environ["RELAY_TEST_KILL_COMMIT"]), [0]
@event.listens_for(Engine, "commit")
def _before_commit(conn):
    _seen[0] += 1
    if _seen[0] == _target:
        os.kill(os.getpid(), signal.SIGKILL)
from relay.cli import main
sys.exit(main(sys.argv[1:]))
"""


class Crasher:
    """The fakes, the relay environment, and one armed kill point per run."""

    def __init__(self, tmp_path) -> None:
        self.guance = FakeGuance(api_key="crash-test-key-123456")
        self.feishu = FakeFeishu(on_receive=self._card_taken)
        self.guance.app.before_request(self._guance_request)
        self.feishu.app.before_request(self._card_arriving)
        self._open = 0  # connections the fakes have accepted and not yet closed
        self.servers = [ServerThread(self.guance.app), ServerThread(self.feishu.app)]
        for server in self.servers:
            self._count_connections(server.server)
        self.guance.url, self.feishu.url = (s.url for s in self.servers)
        for name in HOOKS:
            self.guance.add_channel(name)
        self.db_url = f"sqlite:///{tmp_path}/relay.db"
        self.cwd = tmp_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        self.env = dict(
            env, RELAY_GUANCE_BASE_URL=self.guance.url, RELAY_GUANCE_API_KEY=self.guance.api_key,
            RELAY_CHANNELS=",".join(HOOKS), RELAY_ROUTES=json.dumps({n: [n] for n in HOOKS}),
            RELAY_DESTINATIONS=json.dumps({
                n: f"{self.feishu.url}/flow/api/trigger-webhook/{h}" for n, h in HOOKS.items()}),
            RELAY_DATABASE_URL=self.db_url, RELAY_OVERLAP_SECONDS="0",
            RELAY_STORM_THRESHOLD="100000",
            # the call budget is shared by every process on the database (and so by the two dozen
            # runs here): a minute's worth of them must not wait for it
            RELAY_GUANCE_CALLS_PER_MINUTE="1000")
        self.expected: set[tuple[str, str]] = set()  # (hook, issue uuid) that must arrive
        self.seeded = 0
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._kind, self._n, self._count = "", 0, 0

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def add_issues(self, count: int) -> int:
        """Add issues (each in one or both channels); the number of cards they are due."""
        cards = 0
        for _ in range(count):
            channels = CHANNEL_SETS[self.seeded % len(CHANNEL_SETS)]
            uuid = self.guance.add_issue(f"crash test issue {self.seeded}", channels=channels)
            self.expected |= {(HOOKS[c], uuid) for c in channels}
            self.seeded += 1
            cards += len(channels)
        return cards

    def received(self) -> list[tuple[str, str]]:
        return [(hook, body["issue_uuid"]) for hook, body in list(self.feishu.received)]

    def _count_connections(self, server) -> None:
        """Count the server's connections from accept to close (a request of a killed process
        may still sit in a socket, not yet in the app, when the process is gone)."""
        process, shutdown = server.process_request, server.shutdown_request

        def accepted(*args):
            with self._lock:
                self._open += 1
            process(*args)

        def closed(*args):
            try:
                shutdown(*args)
            finally:
                with self._lock:
                    self._open -= 1

        server.process_request, server.shutdown_request = accepted, closed

    def _settle(self) -> None:
        """Wait until the fakes have answered every request of a finished or killed run: one
        more request to each fake is accepted after every connection opened before it (the
        listen queue is first in, first out); then wait for all of them to close."""
        for server in self.servers:
            requests.get(f"{server.url}/settle", timeout=60)
        deadline = time.monotonic() + 60
        while self._open and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not self._open, "the fakes are stuck in a request"

    # -- kill points inside the fakes (they run in the servers' threads) --------------------------
    def _hit(self, kind: str) -> bool:
        """Kill the running relay if this is the armed event; True when it was killed."""
        with self._lock:
            if self._proc is None or self._kind != kind:
                return False
            self._count += 1
            if self._count != self._n:
                return False
            proc, self._proc = self._proc, None
        proc.kill()
        proc.wait(10)
        return True

    def _guance_request(self):
        if request.path == "/api/v1/issue/list" and self._hit("guance"):
            return "relay is gone", 503
        return None

    def _card_arriving(self):
        if self._hit("card-lost"):
            return "relay is gone", 503  # the card is not recorded: it never went out
        return None

    def _card_taken(self, hook, body) -> None:
        time.sleep(FEISHU_LATENCY)
        self._hit("card-acked")  # recorded already; relay dies before it hears "yes"

    # -- one run of `relay poll` ------------------------------------------------------------------
    def run(self, kind: str = "", n: float = 0) -> tuple[int, str, float]:
        """Run `relay poll` with one kill point armed; (return code, output, seconds)."""
        self._settle()
        env = dict(self.env)
        if kind in ("guance", "commit"):
            # poll in a later second than the issues were made: a cursor that moved past them
            # without their rows must not be saved by the re-read of the cursor's own second
            time.sleep(1 - time.time() % 1)
        if kind == "commit":
            env["RELAY_TEST_KILL_COMMIT"] = str(n)
            cmd = [sys.executable, "-c", KILL_AT_COMMIT, "poll"]
        else:
            cmd = [sys.executable, "-m", "relay.cli", "poll"]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        with self._lock:
            self._proc, self._kind, self._n, self._count = proc, kind, n, 0
        timer = None
        if kind == "timer":
            timer = threading.Timer(n, proc.kill)
            timer.start()
        try:
            output, _ = proc.communicate(timeout=300)  # generous: a loaded machine is slow
        finally:
            if timer:
                timer.cancel()
            with self._lock:
                self._proc = None
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        took = time.monotonic() - started
        self._settle()  # the run's cards are all in before anyone counts them
        return proc.returncode, output, took


def test_sigkill_anywhere_loses_nothing_and_repeats_at_most_one_card_per_kill(tmp_path):
    began = time.monotonic()
    relay = Crasher(tmp_path)
    try:
        # Installed: a first uninterrupted run makes the database and starts both cursors at now.
        code, output, idle = relay.run()
        assert code == 0, output
        relay.add_issues(24)
        timed = [idle * f for f in (0.3, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.7, 2.0, 2.5)]
        plan = [("commit", 2), ("guance", 1), ("card-lost", 1), ("card-acked", 1),
                ("commit", 3), ("guance", 2), ("commit", 4), ("card-lost", 3),
                ("card-acked", 4), ("commit", 5), ("commit", 8)]
        plan = [p for pair in zip(plan, [("timer", t) for t in timed]) for p in pair]

        # relay sends one card at a time, so when it dies at most the last card Feishu took has
        # no `sent` mark yet: that card, and only that one, may come again, once per kill
        seen, owed, log = Counter(relay.received()), Counter(), []

        def check_cards(label: str, cards: list[tuple[str, str]], killed: bool) -> None:
            repeats = 0
            for pair in cards:
                if seen[pair]:
                    repeats += 1
                    log.append(f"  card {pair} again")
                    assert owed[pair], "a card came again that no kill left unconfirmed:\n" + \
                        "\n".join(log)
                    owed[pair] -= 1
                seen[pair] += 1
            if killed and cards:
                owed[cards[-1]] += 1
            log.append(f"{label} {'killed' if killed else 'finished':8} "
                       f"cards {len(cards):2d} repeats {repeats}")

        kills, missed = 0, []
        for kind, n in plan:
            # new issues in both channels every round: polls die with work
            due = relay.add_issues(2)
            while kind.startswith("card") and due < n:  # the n-th card must come in this run
                due += relay.add_issues(1)
            before = len(relay.feishu.received)
            code, output, took = relay.run(kind, n)
            killed = code == -signal.SIGKILL
            assert killed or code == 0, f"{kind} {n}: exit {code}\n{output}"
            if kind != "timer" and not killed:
                missed.append(f"{kind} {n}")  # checked last: a lost issue is the better message
            kills += killed
            check_cards(f"{kind:>10} {n:<5.3g} {took:4.1f}s", relay.received()[before:], killed)

        for label in ("catch-up", "idle"):  # clean runs: the first sends the rest, then nothing
            before = len(relay.feishu.received)
            code, output, took = relay.run()
            assert code == 0, output
            check_cards(f"{label:>16} {took:4.1f}s", relay.received()[before:], False)
        assert len(relay.feishu.received) == before, "a run after the catch-up sent more cards"

        received = relay.received()
        counts = Counter(received)
        repeats = len(received) - len(counts)
        elapsed = time.monotonic() - began
        print("\n" + "\n".join(log))
        print(f"issues {relay.seeded}, cards due {len(relay.expected)}, kills {kills}, "
              f"cards received {len(received)}, repeats {repeats}, "
              f"start-up+poll {idle:.2f}s, total {elapsed:.1f}s")

        missing = relay.expected - set(counts)
        assert not missing, f"{len(missing)} card(s) never arrived: {sorted(missing)[:5]}"
        assert set(counts) == relay.expected  # nothing that was not asked for
        assert repeats <= kills

        engine = sa.create_engine(relay.db_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT destination, issue_uuid, status FROM deliveries")).all()
        engine.dispose()
        assert {(HOOKS[d], u) for d, u, _ in rows} == relay.expected
        assert Counter(s for _, _, s in rows) == {"sent": len(relay.expected)}
        assert not missed, f"kill points never reached: {missed}"
    finally:
        relay.stop()
