"""The migrations make exactly the schema the models declare (a column added to one and not the
other would only show on a real database)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from relay.store import metadata
from relay.store.base import make_engine, migrate


def test_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/schema.db")
    migrate(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()
