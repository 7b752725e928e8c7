"""Signatures already used: DingTalk's outgoing-robot `sign` covers only the timestamp, not the
body, so a captured (timestamp, sign) pair would pass again with another body for as long as the
timestamp is accepted (an hour either way). Each accepted pair is kept here until then — in the
database, so every replica refuses it — and a second use is refused. Rows past their time are
deleted by the next insert."""

from __future__ import annotations

from sqlalchemy import BigInteger, Engine, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from relay.store.base import Base, dialect_insert, write_lock


class UsedSignature(Base):
    __tablename__ = "used_signatures"
    sign: Mapped[str] = mapped_column(String(128), primary_key=True)  # e.g. "dingtalk:<sign>"
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix s: refused by age then


def first_use(engine: Engine, sign: str, expires_at: int, now: int) -> bool:
    """Remember `sign` until `expires_at`; False when it was used before (a replay)."""
    stmt = dialect_insert(engine)(UsedSignature).values(sign=sign, expires_at=expires_at)
    stmt = stmt.on_conflict_do_nothing(index_elements=["sign"]).returning(UsedSignature.sign)
    with write_lock(engine), engine.begin() as conn:
        conn.execute(delete(UsedSignature).where(UsedSignature.expires_at <= now))
        return conn.execute(stmt).first() is not None
