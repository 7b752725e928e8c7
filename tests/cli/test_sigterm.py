"""SIGTERM to a one-shot `relay deliver` or `relay poll` while a card is on its way: the process
finishes that send, marks it and exits cleanly, so the next run does not send it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.store import outbox as store
from tests.helpers import card_uuids, outbox


@pytest.mark.parametrize("command", [["deliver"], ["poll"], ["run-job", "deliver"]])
def test_sigterm_mid_send_finishes_and_marks_the_card(make_runtime, guance, feishu, clock,
                                                     tmp_path, command):
    rt = make_runtime()
    poll(rt)
    clock.advance(10)
    first, second = guance.add_issue("disk full"), guance.add_issue("disk fuller")
    clock.advance(20)
    poll(rt)  # two cards queued
    env = dict(os.environ, RELAY_GUANCE_BASE_URL=guance.url, RELAY_GUANCE_API_KEY=guance.api_key,
               RELAY_FEISHU_WEBHOOK_URL=rt.settings.feishu_webhook_url.get_secret_value(),
               RELAY_DATABASE_URL=rt.settings.database_url)
    feishu.hold = threading.Event()  # Feishu takes the first card and answers only when told
    proc = subprocess.Popen([sys.executable, "-m", "relay.cli", *command], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert feishu.arrived.wait(60), "the card never reached Feishu"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the signal is in before Feishu answers
    finally:
        feishu.hold.set()
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "SIGTERM" in output and "Traceback" not in output
    by_uuid = {r.issue_uuid: r.status for r in outbox(rt)}
    assert card_uuids(feishu) == [first]
    assert by_uuid == {first: store.SENT, second: store.PENDING}  # marked; the rest waits
    feishu.hold = None
    deliver(rt)  # the next run
    assert card_uuids(feishu) == [first, second]  # nothing twice
