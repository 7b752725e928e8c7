"""The same migrations and pipeline on a real PostgreSQL server."""

import sqlalchemy as sa

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll


def test_migrations_create_the_schema_on_postgres(make_runtime, postgres_url):
    rt = make_runtime(database_url=postgres_url)
    tables = set(sa.inspect(rt.engine).get_table_names())
    assert {"channel_cursors", "deliveries", "alembic_version"} <= tables


def test_issue_delivered_once_on_postgres(make_runtime, postgres_url, guance, feishu, clock):
    rt = make_runtime(database_url=postgres_url)
    poll(rt)
    clock.advance(20)
    first = guance.add_issue("queue depth high", level="system_level_1")
    clock.advance(40)
    poll(rt)
    deliver(rt)
    restarted = make_runtime(database_url=postgres_url)  # a second process on the same database
    clock.advance(60)
    second = guance.add_issue("consumer lag", level=2)
    clock.advance(1)
    poll(restarted)
    deliver(restarted)
    sent = [c["issue_uuid"] for c in feishu.for_hook("hook-default")]
    assert sent == [first, second]
