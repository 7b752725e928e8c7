"""A SQLite database another process holds the write lock of: replies answer 503 "retry" in JSON
and `relay poll` says so in one line, instead of a 500, a traceback and a 30 s wait."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import sys

from relay.pipeline.poll import poll
from relay.web.app import create_app
from tests.helpers import REPLY_TOKEN, assert_json_error

AUTH = {"Authorization": f"Bearer {REPLY_TOKEN}"}


@contextlib.contextmanager
def write_locked(path):
    """Another process's writer: holds the database's write lock until the block ends."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_reply_while_the_database_is_locked_is_503_retry(make_runtime, guance, tmp_path,
                                                          caplog):
    rt = make_runtime(database_busy_timeout=0.2)
    issue = guance.add_issue("disk full")
    client = create_app(rt).test_client()
    with write_locked(tmp_path / "relay.db"), caplog.at_level(logging.INFO):
        resp = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{issue}#on it"})
    body = assert_json_error(resp, 503)
    assert body["error"] == "database busy, retry" and resp.headers["Retry-After"] == "1"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert guance.comments(issue) == []
    resp = client.post("/feishu/reply", headers=AUTH, json={"content": f"#{issue}#on it"})
    assert resp.status_code == 200 and guance.comments(issue) == ["on it"]


def test_relay_poll_on_a_locked_database_says_so_in_one_line_and_fails(make_runtime, guance,
                                                                      tmp_path):
    rt = make_runtime()
    poll(rt)  # the database exists and is migrated
    env = dict(os.environ, RELAY_GUANCE_BASE_URL=guance.url, RELAY_GUANCE_API_KEY=guance.api_key,
               RELAY_FEISHU_WEBHOOK_URL=rt.settings.feishu_webhook_url.get_secret_value(),
               RELAY_DATABASE_URL=rt.settings.database_url, RELAY_DATABASE_BUSY_TIMEOUT="0.3")
    with write_locked(tmp_path / "relay.db"):
        done = subprocess.run([sys.executable, "-m", "relay.cli", "poll"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "database is busy" in lines[0] and "try again" in lines[0]
