"""What every table shares: one declarative Base, the engine, migrations and SQLite's write lock."""

from __future__ import annotations

import contextlib
import threading
import weakref
from pathlib import Path
from typing import Any, ContextManager

from sqlalchemy import BigInteger, Engine, Integer, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase

ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class Base(DeclarativeBase):
    pass


_WRITE_LOCKS: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()


def write_lock(engine: Engine) -> ContextManager[Any]:
    """Held around a hot write transaction on SQLite: the threads of one process then queue on
    a lock that wakes them at once, instead of on SQLite's busy handler, which sleeps 1–100 ms
    between tries. PostgreSQL locks rows itself: nothing to do there."""
    return _WRITE_LOCKS.get(engine) or contextlib.nullcontext()


def make_engine(url: str, busy_timeout: float = 30.0) -> Engine:
    """The engine for `url`; on SQLite a writer waits up to `busy_timeout` seconds for another
    process's write lock, then gives up with "database is locked" (see is_busy)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout})
        _WRITE_LOCKS[engine] = threading.RLock()

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def is_busy(exc: BaseException) -> bool:
    """A database error that a later try may not meet: SQLite locked by another writer, or a
    PostgreSQL lock or statement timeout."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "lock timeout" in text or "statement timeout" in text


HEAD = "0011"  # the newest migration's revision (tests/store/test_schema.py checks it)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to `revision` (the only way the schema is made). A
    database already at HEAD is left alone without loading Alembic: its templates (and Pygments,
    where installed) would stay in a long-running process's memory for nothing, ~10 MB."""
    if revision == "head" and at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    import migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # replicas starting together migrate one by one
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7312049)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def at_head(engine: Engine) -> bool:
    """Is the database's schema the newest one? False when it has none yet."""
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
                (HEAD,)]
    except DBAPIError:
        return False


def dialect_insert(engine: Engine):
    """INSERT with ON CONFLICT for the engine's database (PostgreSQL or SQLite)."""
    return (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)


