"""`relay sandbox --keep`: after the walk-through, the fakes and relay stay up, with the URLs to
open and a curl to try, until Ctrl-C; then it exits 0."""

from __future__ import annotations

import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def test_sandbox_keep_serves_until_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "relay.cli", "sandbox", "--keep"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        while not (seen and seen[-1].startswith("  curl ")):
            seen.append(lines.get(timeout=120))  # the walk-through takes a few seconds
        text = "".join(seen)
        health = re.search(r"health +(\S+/healthz)", text).group(1)
        page = re.search(r"delivery log page +(\S+)", text).group(1)
        assert re.search(r"metrics +\S+/metrics", text)
        resp = requests.get(health, timeout=10)
        assert resp.status_code == 200 and resp.json()["status"] == "ok", resp.text
        assert "relay_polls_total" in requests.get(health.replace("healthz", "metrics"),
                                                   timeout=10).text
        assert requests.get(page, timeout=10).status_code == 200
        # the printed curl works as printed: a reply becomes a comment on the fake issue
        curl = shlex.split(seen[-1].strip())
        headers = dict(h.split(": ", 1) for h in (curl[i + 1] for i, a in enumerate(curl)
                                                  if a == "-H"))
        body = curl[curl.index("-d") + 1]
        answer = requests.post(curl[-1], data=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    while not lines.empty():
        seen.append(lines.get())
    assert proc.returncode == 0, "".join(seen)
    assert "sandbox OK" in "".join(seen) + (rest or "")


def test_sandbox_keep_stops_on_the_first_sigterm_and_running_jobs_end_with_it(make_runtime):
    """SIGTERM sets the stop every job watches (as `relay run` does), so a job in its run (a
    poll_issues every=15 between its polls) ends at once instead of holding the exit."""
    import os

    from relay.sandbox.demo import keep_running

    rt = make_runtime(ui_token="ui-token-for-the-keep-test")
    job_ended = threading.Event()

    def a_running_job():
        rt.stopping.wait(120)  # what every job's waits do
        job_ended.set()

    threading.Thread(target=a_running_job, daemon=True).start()
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        keep_running(rt, "http://127.0.0.1:1", ["g", "f"], "issue_x", None, True)
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
    assert rt.stopping.is_set()
    assert job_ended.wait(10)
