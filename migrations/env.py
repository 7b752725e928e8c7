"""Alembic environment: runs on the connection `relay.store.base.migrate` hands over, or on
`sqlalchemy.url` / RELAY_DATABASE_URL when called as `alembic -c migrations/alembic.ini ...`."""

import os

from alembic import context
from sqlalchemy import create_engine

from relay.store import metadata  # every table: the package imports each table module

config = context.config
target_metadata = metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("RELAY_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    with create_engine(url).begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
