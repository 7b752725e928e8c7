"""The Guance call budget shared by every replica that uses the same database.

Guance counts calls per API key, not per process: three replicas with a private 20-a-minute
budget each would make 60 calls a minute and be refused. Here the granted calls are counted in
`guance_calls`, one row per key and second (so a grant reads at most a window's worth of rows,
however high the budget). A grant sums the window and adds one, in a transaction that first locks
the key's `guance_budget` row (an UPDATE: a row lock on PostgreSQL, the write lock on SQLite), so
two replicas cannot both take the last call. A call counts for its whole second, which makes the
limit at most a second stricter than the exact one. A rate-limit answer pauses every replica
(`blocked_until`). The key is stored only as a hash. Calls of a kind (replies, background) are
counted under `<key>:<kind>`, so each kind's floor holds across replicas too.
"""

from __future__ import annotations

import hashlib
import math

from sqlalchemy import (BigInteger, Engine, Float, Integer, String, bindparam, case, delete, func,
                        select, update)
from sqlalchemy.orm import Mapped, mapped_column

from relay.clock import Clock
from relay.ratelimit import KINDS, RateLimiter
from relay.store.base import Base, dialect_insert, write_lock


class GuanceBudget(Base):
    __tablename__ = "guance_budget"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)


class GuanceCall(Base):
    """How many calls the key was granted in one second (Unix seconds)."""

    __tablename__ = "guance_calls"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    second: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)


def key_id(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def wait_for_buckets(rules: list[tuple[int, float]], buckets: list[tuple[int, int]],
                     now: float, reserve: int, blocked_until: float) -> float:
    """Seconds until one more call fits every rule, given (second, calls) buckets, oldest first.
    A bucket counts while any part of its second is inside the window."""
    wait = blocked_until - now
    for count, seconds in rules:
        allowed = count - reserve
        if allowed < 1:
            return math.inf
        inside = [(sec, n) for sec, n in buckets if sec + 1 > now - seconds]
        total = sum(n for _, n in inside)
        for sec, n in inside:  # the window must slide past the oldest seconds until one fits
            if total < allowed:
                break
            total -= n
            wait = max(wait, sec + 1 + seconds - now)
    return max(wait, 0.0)


class SharedRateLimiter(RateLimiter):
    """RateLimiter's rules and interface, with the granted calls kept in the database. The
    statements are built once: a reply waits on this, and building them cost more than running
    them."""

    def __init__(self, engine: Engine, key: str, rules: list[tuple[int, float]],
                 clock: Clock | None = None) -> None:
        super().__init__(rules, clock)
        self.engine = engine
        self.key = key
        insert = dialect_insert(engine)
        with engine.begin() as conn:
            conn.execute(insert(GuanceBudget).values(key_id=key, blocked_until=0.0)
                         .on_conflict_do_nothing(index_elements=["key_id"]))
        mine = GuanceBudget.key_id == key
        # calls without a kind are counted under the key itself, a kind's under key:kind
        every = GuanceCall.key_id.in_([key] + [f"{key}:{kind}" for kind in KINDS])
        # an UPDATE that changes nothing, to lock the key's row (the write lock on SQLite)
        self._lock_row = (update(GuanceBudget).where(mine)
                          .values(blocked_until=GuanceBudget.blocked_until)
                          .returning(GuanceBudget.blocked_until))
        self._pause = update(GuanceBudget).where(mine).values(
            blocked_until=func.max(GuanceBudget.blocked_until, bindparam("until"))
            if engine.dialect.name == "sqlite" else
            func.greatest(GuanceBudget.blocked_until, bindparam("until")))
        self._buckets = (select(GuanceCall.second, func.sum(GuanceCall.calls)).where(every)
                         .group_by(GuanceCall.second).order_by(GuanceCall.second))
        self._own_buckets = (select(GuanceCall.second, GuanceCall.calls)
                             .where(GuanceCall.key_id == bindparam("kid"))
                             .order_by(GuanceCall.second))
        # calls in the last `seconds` (counting each whole second that overlaps them)
        self._recent = select(func.coalesce(func.sum(GuanceCall.calls), 0)).where(
            every, GuanceCall.second > bindparam("since"))
        # the same, with a kind's own calls beside them, in one aggregate
        self._both_recent = select(
            func.coalesce(func.sum(GuanceCall.calls), 0),
            func.coalesce(func.sum(case((GuanceCall.key_id == bindparam("kid"),
                                         GuanceCall.calls), else_=0)), 0)).where(
            every, GuanceCall.second > bindparam("since"))
        self._forget = delete(GuanceCall).where(every, GuanceCall.second < bindparam("oldest"))
        self._count = insert(GuanceCall).values(
            key_id=bindparam("kid"), second=bindparam("second"), calls=1).on_conflict_do_update(
            index_elements=["key_id", "second"], set_={"calls": GuanceCall.calls + 1}
        ).returning(GuanceCall.calls)

    def _fits(self, conn, now: float, reserve: int, kid: str | None) -> bool:
        """The common case, in one or two aggregates per rule: one more call fits every window
        (and, for a kind, its own calls stay `reserve` below the limit)."""
        for count, seconds in self.rules:
            since = {"since": now - seconds - 1}
            if kid is None:
                if conn.execute(self._recent, since).scalar() >= count - reserve:
                    return False
            else:
                total, own = conn.execute(self._both_recent, dict(since, kid=kid)).one()
                if total >= count or own >= count - reserve:
                    return False
        return True

    def _take(self, reserve: int, kind: str = "") -> float:
        kid = f"{self.key}:{kind}" if kind else None
        with self._lock, write_lock(self.engine), self.engine.begin() as conn:
            now = self.clock.now()
            blocked_until = conn.execute(self._lock_row).scalar() or 0.0
            if blocked_until <= now and self._fits(conn, now, reserve, kid):
                wait = 0.0
            else:  # full or paused: read the window's seconds to say how long until it is not
                buckets = [(sec, n) for sec, n in conn.execute(self._buckets)]
                if kid is None:
                    wait = wait_for_buckets(self.rules, buckets, now, reserve, blocked_until)
                else:
                    own = [(sec, n) for sec, n in conn.execute(self._own_buckets, {"kid": kid})]
                    wait = max(wait_for_buckets(self.rules, buckets, now, 0, blocked_until),
                               wait_for_buckets(self.rules, own, now, reserve, blocked_until))
            if wait <= 0:
                calls = conn.execute(self._count, {"kid": kid or self.key,
                                                   "second": math.floor(now)}).scalar()
                if calls == 1:  # the first call of a new second: forget the seconds now too old
                    conn.execute(self._forget, {"oldest": math.floor(now - self.rules[-1][1]) - 1})
            return wait

    def block(self, seconds: float) -> None:
        with self._lock, write_lock(self.engine), self.engine.begin() as conn:
            conn.execute(self._pause, {"until": self.clock.now() + seconds})

    def used(self, seconds: float) -> int:
        with self.engine.connect() as conn:
            return conn.execute(self._recent, {"since": self.clock.now() - seconds - 1}).scalar()
