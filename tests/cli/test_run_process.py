"""`relay run` as a user starts it: a real process, real sockets, stopped with SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread
from tests.helpers import free_port


@pytest.fixture
def real_guance():
    fake = FakeGuance(api_key="process-test-key-123456")
    server = ServerThread(fake.app)
    fake.url = server.url
    yield fake
    server.stop()


def test_run_serves_replies_and_stops_cleanly_on_sigterm(tmp_path, real_guance):
    port = free_port()
    env = dict(os.environ, RELAY_GUANCE_BASE_URL=real_guance.url,
               RELAY_GUANCE_API_KEY=real_guance.api_key, RELAY_REPLY_TOKEN="run-token-abcdef",
               RELAY_FEISHU_WEBHOOK_URL="http://127.0.0.1:9/flow/api/trigger-webhook/x",
               RELAY_DATABASE_URL=f"sqlite:///{tmp_path}/relay.db", RELAY_PORT=str(port),
               RELAY_CRONTAB=os.path.abspath("crontab.example"))
    proc = subprocess.Popen([sys.executable, "-m", "relay.cli", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        issue = real_guance.add_issue("cache miss storm")
        resp = requests.post(f"http://127.0.0.1:{port}/feishu/reply",
                             headers={"Authorization": "Bearer run-token-abcdef"},
                             json={"content": f"@relay ＃{issue}＃warming the cache"}, timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.json()["issueUUID"] == issue
        assert real_guance.comments(issue) == ["warming the cache"]
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "scheduler started from" in output
    assert real_guance.api_key not in output and "run-token-abcdef" not in output
    assert (tmp_path / "relay.db").exists()  # migrations ran at start
