"""Shared fixtures: the project's own fake Guance and Feishu on 127.0.0.1, a fake clock, and a
Runtime wired to them with a fresh SQLite database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.clock import FakeClock
from relay.runtime import Runtime
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread
from relay.settings import Settings
from relay.store import outbox as store

# fixtures of the chat platforms' fakes: dingtalk, wecom (robots); open_api, app_rt (app bot)
pytest_plugins = ["tests.robots", "tests.appbot"]

REPLY_TOKEN = "test-reply-token-0123456789"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def served(fake):
    """Serve a fake peer on 127.0.0.1 for one test (its `url` set), then stop it."""
    server = ServerThread(fake.app)
    fake.url = server.url
    yield fake
    server.stop()


def outbox(rt) -> list[store.Delivery]:
    """Every outbox row, in the order they were queued."""
    with Session(rt.engine) as session:
        return list(session.scalars(select(store.Delivery).order_by(store.Delivery.id)))


def assert_json_error(resp, status) -> dict:
    """A test-client answer with `status` and a JSON body {"error": "<reason>", …}."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    return body


@pytest.fixture
def guance(clock):
    yield from served(FakeGuance(api_key="test-api-key-abcdef", clock=clock))


@pytest.fixture
def feishu(clock):
    yield from served(FakeFeishu(clock=clock))


@pytest.fixture
def make_runtime(tmp_path, guance, feishu, clock):
    """Build a Runtime against the fakes; keyword arguments override settings."""
    made = []

    def make(**overrides) -> Runtime:
        values = dict(
            _env_file=None, guance_base_url=guance.url, guance_api_key=guance.api_key,
            feishu_webhook_url=f"{feishu.url}/flow/api/trigger-webhook/hook-default",
            reply_token=REPLY_TOKEN, database_url=f"sqlite:///{tmp_path}/relay.db")
        values.update(overrides)
        rt = Runtime(Settings(**values), clock=clock)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


@pytest.fixture
def two_teams(guance, feishu) -> dict:
    """Settings for channels "ops" and "db", each routed to its own flow (hook-ops, hook-db)."""
    guance.add_channel("ops")
    guance.add_channel("db")
    return dict(channels="ops,db",
                destinations={"ops-team": f"{feishu.url}/flow/api/trigger-webhook/hook-ops",
                              "db-team": f"{feishu.url}/flow/api/trigger-webhook/hook-db"},
                routes={"ops": ["ops-team"], "db": ["db-team"]})


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (skipped only outside CI when not installed)."""
    import os

    from tests.postgres import PostgresServer, find_bin

    bindir = find_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing in CI (.ci/run installs them)")
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql); CI runs these")
    server = PostgresServer(bindir)
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's PostgreSQL server."""
    import uuid

    import sqlalchemy as sa

    name = f"relay_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
