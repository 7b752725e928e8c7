"""Leases: which replica polls a channel or sends to a destination right now.

Several `relay run` replicas may share one database. Before polling a channel or sending to a
destination a replica claims a lease named after that work (`poll:<channel>`,
`deliver:<destination>`) with an expiry; a claim succeeds only where no live lease exists. The
claim is one INSERT … ON CONFLICT DO UPDATE … WHERE expired, atomic on PostgreSQL and SQLite
alike, and no row lock is held while Guance or Feishu is called. A killed replica never releases
its leases: they run out after RELAY_LEASE_SECONDS and another replica takes the work over. A
lease whose holder was a process on this host that is gone is free at once, so a single relay
restarted after a crash resumes without waiting.
"""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy import Engine, Float, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from relay.clock import Clock
from relay.store.base import Base, dialect_insert


class Lease(Base):
    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Float)


def new_owner() -> str:
    """host:pid:random — unique per Runtime, readable in the table when an admin looks."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_gone(owner: str) -> bool:
    """True when `owner` names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:60] or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it runs
        return False
    return False


class Leases:
    def __init__(self, engine: Engine, seconds: float, clock: Clock,
                 owner: str | None = None) -> None:
        self.engine = engine
        self.seconds = seconds
        self.clock = clock
        self.owner = owner or new_owner()

    def claim(self, name: str) -> bool:
        """Take the lease if nobody holds a live one (not even this replica: two threads of one
        process must not share work either). True when it is ours until now + seconds."""
        now = self.clock.now()
        stmt = dialect_insert(self.engine)(Lease).values(name=name, owner=self.owner,
                                                         expires_at=now + self.seconds)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={"owner": self.owner, "expires_at": now + self.seconds},
            where=Lease.expires_at <= now)
        with self.engine.begin() as conn:
            if conn.execute(stmt.returning(Lease.owner)).first() is not None:
                return True
            holder = conn.scalar(select(Lease.owner).where(Lease.name == name))
            if holder is None or not holder_is_gone(holder):
                return False
            return conn.execute(update(Lease).where(Lease.name == name, Lease.owner == holder)
                                .values(owner=self.owner, expires_at=now + self.seconds)
                                ).rowcount == 1

    def renew(self, name: str) -> bool:
        """Extend a lease we hold; False when it ran out and another replica took it."""
        with self.engine.begin() as conn:
            return conn.execute(update(Lease).where(Lease.name == name, Lease.owner == self.owner)
                                .values(expires_at=self.clock.now() + self.seconds)).rowcount == 1

    def release(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(Lease).where(Lease.name == name, Lease.owner == self.owner))
