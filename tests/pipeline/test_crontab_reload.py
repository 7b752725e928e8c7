"""An edited crontab applies to the running scheduler: jobs added, removed, re-timed; a bad edit
keeps the running schedule, is logged once and shown on /healthz; `relay run` does it by itself
(file watch) and on SIGHUP."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from jobs import JOBS
from relay.pipeline import schedule
from relay.pipeline.schedule import CrontabWatcher, build_scheduler, parse_crontab
from relay.web.app import create_app
from tests.helpers import free_port

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def running(tmp_path):
    """A paused scheduler built from a crontab file, and its watcher (checked by hand)."""
    made = []

    def start(text: str, jobs=JOBS, rt=None, paused=True):
        path = tmp_path / "crontab"
        path.write_text(text, encoding="utf-8")
        entries = parse_crontab(path, jobs, TZ)
        scheduler = build_scheduler(entries, jobs, rt, TZ)
        scheduler.start(paused=paused)
        made.append(scheduler)
        return path, scheduler, CrontabWatcher(path, scheduler, entries, jobs, rt, TZ)

    yield start
    for scheduler in made:
        scheduler.shutdown(wait=True)


def jobs_of(scheduler) -> dict[str, str]:
    return {job.id: str(job.trigger) for job in scheduler.get_jobs()}


def test_a_line_added_to_the_crontab_becomes_a_job(running):
    path, scheduler, watcher = running("* * * * * poll_issues\n")
    assert watcher.check() is False  # nothing changed yet
    path.write_text("* * * * * poll_issues\n17 3 * * * prune days=7\n")
    assert watcher.check() is True
    assert set(jobs_of(scheduler)) == {"poll_issues@1", "prune@2"}
    assert scheduler.get_job("prune@2").kwargs == {"days": 7}
    assert watcher.error is None


def test_a_line_removed_from_the_crontab_stops_its_job_and_others_keep_their_next_run(running):
    path, scheduler, watcher = running("* * * * * poll_issues\n*/5 * * * * deliver\n")
    poll = scheduler.get_job("poll_issues@1")
    path.write_text("* * * * * poll_issues\n")
    assert watcher.check() is True
    assert set(jobs_of(scheduler)) == {"poll_issues@1"}
    kept = scheduler.get_job("poll_issues@1")
    assert kept.next_run_time == poll.next_run_time and kept.trigger is poll.trigger  # untouched


def test_a_retimed_line_runs_on_its_new_schedule(running):
    path, scheduler, watcher = running("0 3 * * * prune\n")
    path.write_text("30 4 * * * prune days=9\n")
    assert watcher.check() is True
    job = scheduler.get_job("prune@1")
    assert job.kwargs == {"days": 9}
    scheduler.resume()  # a paused scheduler computes no next run time
    when = scheduler.get_job("prune@1").next_run_time
    assert (when.hour, when.minute) == (4, 30)


def test_a_bad_edit_keeps_the_running_schedule_and_is_reported_once(running, caplog):
    path, scheduler, watcher = running("* * * * * poll_issues\n")
    before = jobs_of(scheduler)
    path.write_text("* * * * * poll_issues\n0 25 * * * prune\n")
    with caplog.at_level(logging.INFO, logger="relay.schedule"):
        assert watcher.check() is False
        assert watcher.check(force=True) is False  # checked again (e.g. SIGHUP): same error
        for _ in range(3):
            assert watcher.check() is False
    assert jobs_of(scheduler) == before
    assert watcher.error.startswith(f"{path}:2: bad schedule")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"{path}:2: bad schedule" in errors[0]
    path.write_text("* * * * * poll_issues\n0 5 * * * prune\n")  # fixed
    assert watcher.check() is True
    assert watcher.error is None and "prune@2" in jobs_of(scheduler)


def test_a_deleted_crontab_is_an_error_and_the_schedule_runs_on(running):
    path, scheduler, watcher = running("* * * * * deliver\n")
    path.unlink()
    assert watcher.check() is False
    assert "cannot read crontab" in watcher.error
    assert set(jobs_of(scheduler)) == {"deliver@1"}


def test_a_running_job_removed_by_an_edit_finishes(running):
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(rt) -> None:
        started.set()
        release.wait(10)
        finished.set()

    path, scheduler, watcher = running("0 0 1 1 * slow\n", jobs={"slow": slow}, paused=False)
    scheduler.get_job("slow@1").modify(next_run_time=datetime.now(TZ))
    assert started.wait(10)
    path.write_text("# nothing\n0 0 1 1 * slow\n")
    assert watcher.check() is True
    assert set(jobs_of(scheduler)) == {"slow@2"}
    release.set()
    assert finished.wait(10)  # the removed job's run was not cut short


def test_healthz_shows_the_crontab_error_until_the_file_is_fixed(running, make_runtime):
    path, _scheduler, watcher = running("* * * * * poll_issues\n")
    rt = make_runtime(crontab=path)
    rt.crontab_watcher = watcher
    client = create_app(rt).test_client()
    assert client.get("/healthz").get_json()["crontab_error"] is None
    path.write_text("* * * * * poll_issuez\n")
    watcher.check()
    body = client.get("/healthz").get_json()
    assert body["crontab_error"].startswith(f"{path}:1: unknown job 'poll_issuez'")
    path.write_text("* * * * * poll_issues\n")
    watcher.check()
    assert client.get("/healthz").get_json()["crontab_error"] is None


# --- `relay run`, a real process ------------------------------------------------------------

def _wait_for(predicate, seconds: float = 30.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.parametrize("how", ["file watch", "SIGHUP"])
def test_relay_run_reloads_its_crontab(tmp_path, how):
    port, crontab = free_port(), tmp_path / "crontab"
    crontab.write_text("0 0 1 1 * prune\n")
    env = dict(os.environ, RELAY_GUANCE_API_KEY="reload-test-key-123456",
               RELAY_GUANCE_BASE_URL="http://127.0.0.1:9", RELAY_PORT=str(port),
               RELAY_FEISHU_WEBHOOK_URL="http://127.0.0.1:9/flow/api/trigger-webhook/x",
               RELAY_DATABASE_URL=f"sqlite:///{tmp_path}/relay.db", RELAY_CRONTAB=str(crontab),
               RELAY_CRONTAB_RELOAD_SECONDS="1" if how == "file watch" else "0")
    proc = subprocess.Popen([sys.executable, "-m", "relay.cli", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    health = f"http://127.0.0.1:{port}/healthz"

    def crontab_error():
        return requests.get(health, timeout=2).json()["crontab_error"]

    def edit(text: str) -> None:
        crontab.write_text(text)
        if how == "SIGHUP":
            proc.send_signal(signal.SIGHUP)

    try:
        _wait_for(lambda: requests.get(health, timeout=2).status_code)
        assert crontab_error() is None
        edit("0 0 1 1 * prune\n0 0 1 1 * nosuchjob\n")
        assert _wait_for(crontab_error).startswith(f"{crontab}:2: unknown job 'nosuchjob'")
        if how == "SIGHUP":
            proc.send_signal(signal.SIGHUP)  # the same bad file once more
        time.sleep(2.5)  # several more checks of the same bad file
        edit("0 0 1 1 * prune\n0 0 1 1 * deliver\n")
        _wait_for(lambda: crontab_error() is None)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert output.count("nosuchjob") == 1, output  # reported once
    assert "reloaded: added ['deliver@2']" in output


def test_healthz_follows_a_retimed_poll_job(running, make_runtime):
    path, _scheduler, watcher = running("* * * * * poll_issues\n")
    rt = make_runtime(crontab=path)
    rt.crontab_watcher = watcher
    client = create_app(rt).test_client()
    assert client.get("/healthz").get_json()["poll_interval_seconds"] == 60
    path.write_text("*/5 * * * * poll_issues\n")
    assert watcher.check() is True
    assert client.get("/healthz").get_json()["poll_interval_seconds"] == 300


# --- only a stable, regular, size-capped file is applied ------------------------------------

def test_a_crontab_caught_mid_write_is_applied_only_once_whole(running, monkeypatch):
    monkeypatch.setattr(schedule, "SETTLE_SECONDS", 2.0, raising=False)  # far longer than the writer's pause
    path, scheduler, watcher = running("* * * * * poll_issues\n")
    whole = "* * * * * poll_issues\n*/5 * * * * deliver\n17 3 * * * prune days=7\n"
    path.write_text(whole[:30])  # cut inside the deliver line: a valid, shorter crontab
    applied: list[bool] = []
    checking = threading.Thread(target=lambda: applied.append(watcher.check()))
    checking.start()
    time.sleep(0.1)
    with path.open("a") as rest:
        rest.write(whole[30:])
    checking.join(30)
    assert applied == [True]
    assert set(jobs_of(scheduler)) == {"poll_issues@1", "deliver@2", "prune@3"}


def test_a_fifo_in_place_of_the_crontab_is_refused_without_blocking(running, tmp_path):
    path, scheduler, watcher = running("* * * * * deliver\n")
    path.unlink()
    os.mkfifo(path)
    checking = threading.Thread(target=watcher.check, daemon=True)
    checking.start()
    checking.join(30)
    assert not checking.is_alive(), "the watcher blocked on a FIFO"
    assert watcher.error == f"{path}: cannot read crontab (it is a FIFO, not a regular file)"
    assert set(jobs_of(scheduler)) == {"deliver@1"}


def test_a_link_to_a_device_is_refused_and_the_schedule_runs_on(running):
    path, scheduler, watcher = running("* * * * * deliver\n")
    path.unlink()
    path.symlink_to("/dev/zero")
    assert watcher.check() is False
    assert watcher.error == f"{path}: cannot read crontab (it is a device, not a regular file)"
    assert set(jobs_of(scheduler)) == {"deliver@1"}


def test_a_huge_crontab_is_refused_and_the_schedule_runs_on(running):
    path, scheduler, watcher = running("* * * * * deliver\n")
    path.write_text("# padding\n" * 40_000 + "* * * * * poll_issues\n")  # ~400 KB
    assert watcher.check() is False
    assert watcher.error == (f"{path}: cannot read crontab (larger than 256 KiB; a crontab is a "
                             "few lines)")
    assert set(jobs_of(scheduler)) == {"deliver@1"}


def test_relay_check_crontab_names_a_fifo(tmp_path):
    fifo = tmp_path / "crontab"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "relay.cli", "check-crontab", str(fifo)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "it is a FIFO, not a regular file" in done.stderr
