"""Shared fixtures: the project's own fake Guance and Feishu on 127.0.0.1, a fake clock, and a
Runtime wired to them with a fresh SQLite database."""

from __future__ import annotations

import os

import pytest

from relay.clock import FakeClock
from relay.config import Settings
from relay.runtime import Runtime
from relay.sandbox.feishu import FakeFeishu
from relay.sandbox.guance import FakeGuance
from tests.helpers import REPLY_TOKEN, served

# fixtures of the chat platforms' fakes: dingtalk, wecom (robots); open_api, app_rt (app bot)
pytest_plugins = ["tests.robots", "tests.appbot"]



@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No RELAY_ variables from the developer's shell and no .env: each test sets what it needs
    (in an empty working directory)."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.upper().startswith("RELAY_")]:
        monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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
            reply_token=REPLY_TOKEN, database_url=f"sqlite:///{tmp_path}/relay.db",
            language="en")  # the tests written before zh-CN became the default read English
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each database relay runs on, in turn: the test runs once on SQLite (the file make_runtime
    uses by default) and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/relay.db"
    return request.getfixturevalue("postgres_url")


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
