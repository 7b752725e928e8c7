"""The last known state of each relayed issue, and where the tracker's sweep through Guance's
issue list stands.

`issue_states` holds one row per issue relay has carded (status, managers, who changed it last,
Guance's updateAt). A change is recorded in the same transaction that queues its outbox rows, keyed
by issue, destination and state (relay/pipeline/track_issues.py), so two replicas that see the same
change queue it once. `follow_sweeps` remembers the next page of the sweep, so a list longer than
one cycle's calls is read across cycles.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import (JSON, BigInteger, Boolean, Engine, Index, Integer, String, Text, func,
                        select, update)
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay.payloads import DIGEST, ISSUE
from relay.store import outbox
from relay.store.base import Base, dialect_insert
from relay.store.outbox import DIGESTED, SENT, Delivery

OPEN = 10  # Guance statusType of a new issue: a card is sent for an open issue


class IssueState(Base):
    """What relay last knew of a carded issue in Guance."""

    __tablename__ = "issue_states"
    __table_args__ = (Index("ix_issue_states_created_at", "created_at"),)
    issue_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    status_type: Mapped[int] = mapped_column(Integer)
    managers: Mapped[list[Any]] = mapped_column(JSON)  # account UUIDs (extend.manager)
    updator: Mapped[str] = mapped_column(Text, default="")  # who changed it last (a name)
    update_at: Mapped[int] = mapped_column(BigInteger)  # Guance's updateAt (Unix s)
    created_at: Mapped[int] = mapped_column(BigInteger)  # the issue's createAt (Unix s)
    checked_at: Mapped[int] = mapped_column(BigInteger)  # when relay last saw it in Guance


class FollowSweep(Base):
    """The tracker's walk through the issue list: the next page and when this walk began; the
    end of its last read of recent changes, and whether Guance's list window has been seen to
    filter on updateAt (then that one read a run finds every change)."""

    __tablename__ = "follow_sweeps"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    page: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[int] = mapped_column(BigInteger)
    recent_at: Mapped[int | None] = mapped_column(BigInteger)
    window_on_update: Mapped[bool] = mapped_column(Boolean, default=False)


def carded_issues(engine: Engine, since: int) -> dict[str, int]:
    """Issues whose card was sent (or covered by a digest) since `since`: uuid → createAt."""
    with engine.connect() as conn:
        rows = conn.execute(select(Delivery.issue_uuid, func.min(Delivery.issue_created_at))
                            .where(Delivery.status.in_([SENT, DIGESTED]),
                                   Delivery.created_at >= since, Delivery.kind == ISSUE)
                            .group_by(Delivery.issue_uuid)).all()
    return {uuid: int(created) for uuid, created in rows}


def start_tracking(engine: Engine, issues: dict[str, int], now: int) -> int:
    """Add the issues not tracked yet, as open (a card goes out for a new, open issue) with the
    managers its card named."""
    uuids = list(issues)
    with engine.connect() as conn:
        known = {uuid for i in range(0, len(uuids), 500) for uuid in conn.scalars(
            select(IssueState.issue_uuid).where(IssueState.issue_uuid.in_(uuids[i:i + 500])))}
        new = [uuid for uuid in uuids if uuid not in known]
        managers: dict[str, list[Any]] = {}
        for i in range(0, len(new), 500):
            for uuid, payload in conn.execute(select(Delivery.issue_uuid, Delivery.payload).where(
                    Delivery.kind == ISSUE, Delivery.issue_uuid.in_(new[i:i + 500]))):
                managers[uuid] = list((payload or {}).get("managers") or [])
    fresh = [{"issue_uuid": uuid, "status_type": OPEN, "managers": managers.get(uuid, []),
              "updator": "", "update_at": issues[uuid], "created_at": issues[uuid],
              "checked_at": now} for uuid in new]
    if fresh:
        insert = dialect_insert(engine)
        with engine.begin() as conn:
            for i in range(0, len(fresh), 200):
                conn.execute(insert(IssueState).values(fresh[i:i + 200])
                             .on_conflict_do_nothing(index_elements=["issue_uuid"]))
    return len(fresh)


def states(engine: Engine, uuids: Iterable[str]) -> dict[str, IssueState]:
    uuids = list(uuids)
    found: dict[str, IssueState] = {}
    with Session(engine, expire_on_commit=False) as session:
        for i in range(0, len(uuids), 500):
            found.update({s.issue_uuid: s for s in session.scalars(
                select(IssueState).where(IssueState.issue_uuid.in_(uuids[i:i + 500])))})
    return found


def oldest_tracked(engine: Engine, since: int) -> int | None:
    with engine.connect() as conn:
        return conn.scalar(select(func.min(IssueState.created_at)).where(
            IssueState.created_at >= since))


def tracked_count(engine: Engine, since: int) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(IssueState).where(
            IssueState.created_at >= since)) or 0)


def record_change(engine: Engine, old: IssueState, new: dict[str, Any],
                  rows: list[dict[str, Any]], now: int) -> bool:
    """Store the issue's new state and queue `rows` (outbox rows), in one transaction; only if
    the state is still `old` (another replica may have recorded it first). True when recorded."""
    with engine.begin() as conn:
        changed = conn.execute(update(IssueState).where(
            IssueState.issue_uuid == old.issue_uuid, IssueState.status_type == old.status_type,
            IssueState.update_at == old.update_at).values(**new, checked_at=now)).rowcount
        if not changed:
            return False
        outbox.queue(conn, rows, now)
    return True


def mark_seen(engine: Engine, uuids: list[str], now: int) -> None:
    with engine.begin() as conn:
        for i in range(0, len(uuids), 500):
            conn.execute(update(IssueState).where(IssueState.issue_uuid.in_(uuids[i:i + 500]))
                         .values(checked_at=now))


def queue_once(engine: Engine, row: dict[str, Any], now: int) -> bool:
    """Queue one outbox row unless its key is there already (a digest's single follow-up)."""
    with engine.begin() as conn:
        return bool(outbox.queue(conn, [row], now))


def sweep(engine: Engine, name: str, now: int) -> FollowSweep:
    """The walk's position (a fresh one at page 1 before the first run)."""
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(FollowSweep, name)
    return found or FollowSweep(name=name, page=1, started_at=now, recent_at=None,
                                window_on_update=False)


def save_sweep(engine: Engine, position: FollowSweep) -> None:
    values = {"page": position.page, "started_at": position.started_at,
              "recent_at": position.recent_at,
              "window_on_update": bool(position.window_on_update)}
    insert = dialect_insert(engine)
    with engine.begin() as conn:
        conn.execute(insert(FollowSweep).values(name=position.name, **values)
                     .on_conflict_do_update(index_elements=["name"], set_=values))


def cards(engine: Engine, uuids: list[str]) -> list[Delivery]:
    """The card rows (sent or digested) of these issues."""
    found: list[Delivery] = []
    with Session(engine, expire_on_commit=False) as session:
        for i in range(0, len(uuids), 500):
            found += session.scalars(select(Delivery).where(
                Delivery.kind == ISSUE, Delivery.issue_uuid.in_(uuids[i:i + 500]),
                Delivery.status.in_([SENT, DIGESTED])))
    return found


def digests_since(engine: Engine, since: int) -> list[Delivery]:
    """Sent storm-digest cards of the follow window."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Delivery).where(
            Delivery.kind == DIGEST, Delivery.status == SENT, Delivery.created_at >= since)))


def keys_present(engine: Engine, keys: list[str]) -> set[str]:
    """The dedupe keys among `keys` that some outbox row has."""
    with engine.connect() as conn:
        return set(conn.scalars(select(Delivery.dedupe_key).where(Delivery.dedupe_key.in_(keys))))


def prune(engine: Engine, before: int) -> int:
    from sqlalchemy import delete

    with engine.begin() as conn:
        return conn.execute(delete(IssueState).where(IssueState.created_at < before)).rowcount or 0
