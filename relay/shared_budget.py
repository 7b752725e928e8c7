"""The Guance call budget shared by every replica that uses the same database.

Guance counts calls per API key, not per process: three replicas with a private 20-a-minute
budget each would make 60 calls a minute and be refused. Here each granted call is a row in
`guance_calls`; a grant counts the key's rows in the window and inserts one, in a transaction that
first locks the key's `guance_budget` row (an UPDATE: a row lock on PostgreSQL, the write lock on
SQLite), so two replicas cannot both take the last call. A rate-limit answer pauses every replica
(`blocked_until`). The key is stored only as a hash.
"""

from __future__ import annotations

import hashlib
from collections import deque

from sqlalchemy import Engine, Float, String, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from relay.clock import Clock
from relay.ratelimit import RateLimiter
from relay.store import ID, Base


class GuanceBudget(Base):
    __tablename__ = "guance_budget"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)


class GuanceCall(Base):
    __tablename__ = "guance_calls"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)


def key_id(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


class SharedRateLimiter(RateLimiter):
    """RateLimiter's rules and interface, with the granted calls kept in the database."""

    def __init__(self, engine: Engine, key: str, rules: list[tuple[int, float]],
                 clock: Clock | None = None) -> None:
        super().__init__(rules, clock)
        self.engine = engine
        self.key = key
        ins = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        with engine.begin() as conn:
            conn.execute(ins(GuanceBudget).values(key_id=key, blocked_until=0.0)
                         .on_conflict_do_nothing(index_elements=["key_id"]))

    def _lock_and_load(self, conn, now: float) -> None:
        """Lock the key's row, forget calls older than the longest window, load the rest."""
        conn.execute(update(GuanceBudget).where(GuanceBudget.key_id == self.key)
                     .values(blocked_until=GuanceBudget.blocked_until))
        horizon = self.rules[-1][1]
        conn.execute(delete(GuanceCall).where(GuanceCall.key_id == self.key,
                                              GuanceCall.at <= now - horizon))
        self._blocked_until = conn.scalar(select(GuanceBudget.blocked_until).where(
            GuanceBudget.key_id == self.key)) or 0.0
        self._granted = deque(conn.scalars(select(GuanceCall.at).where(
            GuanceCall.key_id == self.key).order_by(GuanceCall.at)))

    def _take(self, reserve: int) -> float:
        with self._lock, self.engine.begin() as conn:
            now = self.clock.now()
            self._lock_and_load(conn, now)
            wait = self._wait_needed(now, reserve)
            if wait <= 0:
                conn.execute(insert(GuanceCall).values(key_id=self.key, at=now))
            return wait

    def block(self, seconds: float) -> None:
        with self._lock, self.engine.begin() as conn:
            now = self.clock.now()
            self._lock_and_load(conn, now)
            conn.execute(update(GuanceBudget).where(GuanceBudget.key_id == self.key).values(
                blocked_until=max(self._blocked_until, now + seconds)))

    def used(self, seconds: float) -> int:
        with self._lock, self.engine.begin() as conn:
            now = self.clock.now()
            self._lock_and_load(conn, now)
            return sum(1 for t in self._granted if t > now - seconds)
