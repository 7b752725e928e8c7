"""Issue actions taken once: `action_uses` holds the key of every signed link that was used and
of every Feishu card click, so a reused link or a double click does not act twice.

A key is taken with one insert (the primary key decides between two replicas); a use that
Guance refused or rate-limited is released, so the person may try again, while one that may
have landed (no answer in time) stays taken.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, Engine, Index, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from relay.store.base import Base, dialect_insert, transaction


class ActionUse(Base):
    __tablename__ = "action_uses"
    __table_args__ = (Index("ix_action_uses_used_at", "used_at"),)  # what prune deletes by
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    issue_uuid: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))  # link, feishu_card
    used_at: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(Text)


def take(bind: Engine | Connection, key: str, issue_uuid: str, action: str, source: str,
         now: int) -> bool:
    """Take the key; False when it was taken before (a used link, a second click)."""
    stmt = dialect_insert(bind.engine)(ActionUse).values(
        key=key, issue_uuid=issue_uuid, action=action, source=source, used_at=now
    ).on_conflict_do_nothing(index_elements=["key"])
    with transaction(bind) as conn:
        return conn.execute(stmt.returning(ActionUse.key)).first() is not None


def get(engine: Engine, key: str) -> ActionUse | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(ActionUse, key)


def finish(engine: Engine, key: str, outcome: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(ActionUse).where(ActionUse.key == key).values(outcome=outcome[:2000]))


def release(engine: Engine, key: str) -> None:
    """The action did not happen: the key may be used again."""
    with engine.begin() as conn:
        conn.execute(delete(ActionUse).where(ActionUse.key == key))


def taken(bind: Engine | Connection, keys: list[str]) -> bool:
    with transaction(bind) as conn:
        found = conn.scalar(select(ActionUse.key).where(ActionUse.key.in_(keys)).limit(1))
    return found is not None


def acted_on(engine: Engine, issue_uuid: str) -> bool:
    """Someone acted on the issue through relay (any route): no reminder is due any more."""
    with engine.connect() as conn:
        return conn.scalar(select(ActionUse.key).where(
            ActionUse.issue_uuid == issue_uuid, ActionUse.key.like("applied:%")).limit(1)
        ) is not None


def prune(engine: Engine, before: int) -> int:
    """Forget uses older than `before`: the prune job keeps them longer than links live."""
    with engine.begin() as conn:
        return conn.execute(delete(ActionUse).where(ActionUse.used_at < before)).rowcount or 0
