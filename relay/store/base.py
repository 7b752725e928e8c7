"""What every table shares: one declarative Base, the engine, migrations and SQLite's write lock."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ContextManager

from sqlalchemy import BigInteger, Connection, Engine, Integer, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase

ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class Base(DeclarativeBase):
    pass


_WRITE_LOCKS: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()
# an event path's wait for SQLite's write lock (Feishu waits 3 s for a whole callback's answer)
EVENT_LOCK_SECONDS = 1.0
_LOCK_DEADLINE: ContextVar[float | None] = ContextVar("relay_lock_deadline", default=None)


@contextlib.contextmanager
def lock_deadline(seconds: float = EVENT_LOCK_SECONDS) -> Iterator[None]:
    """Within the block (this thread), a SQLite writer waits at most `seconds` for the write
    lock, then fails as busy (is_busy): a chat callback answers "busy, try again" in time
    instead of after RELAY_DATABASE_BUSY_TIMEOUT, when the chat has given up."""
    token = _LOCK_DEADLINE.set(seconds)
    try:
        yield
    finally:
        _LOCK_DEADLINE.reset(token)


def _busy() -> OperationalError:
    return OperationalError("write lock", None, sqlite3.OperationalError("database is locked"))


@contextlib.contextmanager
def _within(lock: threading.RLock, seconds: float) -> Iterator[None]:
    if not lock.acquire(timeout=seconds):
        raise _busy()
    try:
        yield
    finally:
        lock.release()


def write_lock(engine: Engine) -> ContextManager[Any]:
    """Held around a hot write transaction on SQLite: the threads of one process then queue on
    a lock that wakes them at once, instead of on SQLite's busy handler, which sleeps 1–100 ms
    between tries (within a lock_deadline, only that long). PostgreSQL locks rows itself:
    nothing to do there."""
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        return contextlib.nullcontext()
    deadline = _LOCK_DEADLINE.get()
    return lock if deadline is None else _within(lock, deadline)


def transaction(bind: Engine | Connection) -> ContextManager[Connection]:
    """A transaction of its own on an engine, or the caller's on a connection (writes that
    stand or fall together)."""
    return bind.begin() if isinstance(bind, Engine) else contextlib.nullcontext(bind)


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

        @event.listens_for(engine, "checkout")
        def _lock_wait(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            """The busy timeout of this use: lock_deadline's, else `busy_timeout`."""
            wanted = min(_LOCK_DEADLINE.get() or busy_timeout, busy_timeout)
            if record.info.get("busy_timeout") != wanted:
                cur = dbapi_conn.cursor()
                cur.execute(f"PRAGMA busy_timeout = {int(wanted * 1000)}")
                cur.close()
                record.info["busy_timeout"] = wanted

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


