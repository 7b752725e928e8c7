"""Why a watched channel could not even be looked up: the channel list failed (403, 500, not
JSON) or the name is not in the workspace. Kept by routing key (the name or chan_ UUID of
RELAY_CHANNELS / RELAY_ROUTES, what /healthz lists), in the database so `relay serve` and
replicas show what another process's poll met. A successful look-up clears it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Engine, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from relay.store.base import Base, dialect_insert


class WatchError(Base):
    __tablename__ = "watch_errors"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[int] = mapped_column(BigInteger)


def record(engine: Engine, keys: list[str], error: str, now: int) -> None:
    insert = dialect_insert(engine)
    with engine.begin() as conn:
        for key in keys:
            conn.execute(insert(WatchError).values(key=key, error=error, at=now)
                         .on_conflict_do_update(index_elements=["key"],
                                                set_={"error": error, "at": now}))


def clear(engine: Engine, keys: list[str]) -> None:
    """Forget the errors of `keys` (looked up fine); no write when there are none."""
    with engine.connect() as conn:
        if not conn.execute(select(WatchError.key).where(WatchError.key.in_(keys))).first():
            return
    with engine.begin() as conn:
        conn.execute(delete(WatchError).where(WatchError.key.in_(keys)))


def errors(conn) -> dict[str, str]:
    """Every watched key's current look-up error."""
    return dict(conn.execute(select(WatchError.key, WatchError.error)).all())
