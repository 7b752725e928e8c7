"""The crontab file: parsing, cron semantics of the schedules, error reports, the scheduler built
from it, and the `relay check-crontab` / `relay run` commands that read it."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jobs import JOBS
from relay import cli
from relay.pipeline.schedule import CrontabError, build_scheduler, parse_crontab, run_job

TZ = ZoneInfo("Asia/Shanghai")
EXAMPLE = Path(__file__).resolve().parents[2] / "crontab.example"
WEDNESDAY = datetime(2026, 3, 4, 10, 0, 30, tzinfo=TZ)  # 2026-03-04 is a Wednesday
MONDAY = datetime(2026, 3, 2, 0, 0, tzinfo=TZ)


def write(tmp_path: Path, text: str, name: str = "crontab") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def entries_of(tmp_path: Path, text: str, tz: ZoneInfo = TZ):
    return parse_crontab(write(tmp_path, text), JOBS, tz)


def fire_times(trigger, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `start`, as the scheduler would ask for them."""
    times, previous, now = [], None, start
    for _ in range(count):
        previous = now = trigger.get_next_fire_time(previous, now)
        times.append(now)
    return times


def schedule(tmp_path: Path, fields: str):
    (entry,) = entries_of(tmp_path, f"{fields} deliver\n")
    return entry.trigger


def weekdays_fired(tmp_path: Path, dow: str) -> set[str]:
    """Days of the week on which `0 9 * * <dow>` fires during one week starting on a Monday."""
    times = fire_times(schedule(tmp_path, f"0 9 * * {dow}"), MONDAY, 7)
    return {t.strftime("%a") for t in times if t < MONDAY + timedelta(days=7)}


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CrontabError) as info:
        parse_crontab(path, JOBS, TZ)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# --- the shipped crontab.example ------------------------------------------------------------

def test_example_crontab_names_the_jobs_with_their_arguments_and_line_numbers():
    entries = parse_crontab(EXAMPLE, JOBS, TZ)
    assert [(e.job, e.kwargs) for e in entries] == [
        ("poll_issues", {"every": 15}), ("deliver", {}), ("prune", {"days": 30}),
        ("notify_replies", {"max_issues": 5}), ("track_issues", {})]
    assert type(entries[2].kwargs["days"]) is int
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for entry in entries:  # line numbers point at the line that names the job
        assert lines[entry.line - 1].split()[5] == entry.job


def test_example_crontab_every_minute_lines_fire_on_each_minute():
    poll, deliver, *_ = parse_crontab(EXAMPLE, JOBS, TZ)
    expected = [datetime(2026, 3, 4, 10, m, tzinfo=TZ) for m in (1, 2, 3)]
    assert fire_times(poll.trigger, WEDNESDAY, 3) == expected
    assert fire_times(deliver.trigger, WEDNESDAY, 3) == expected


def test_example_crontab_prune_fires_daily_at_0317_in_the_configured_timezone():
    prune = parse_crontab(EXAMPLE, JOBS, TZ)[2]
    times = fire_times(prune.trigger, WEDNESDAY, 2)
    assert times == [datetime(2026, 3, 5, 3, 17, tzinfo=TZ), datetime(2026, 3, 6, 3, 17, tzinfo=TZ)]
    # 03:17 Shanghai is 19:17 UTC the day before: the time zone really is applied
    assert times[0] == datetime(2026, 3, 4, 19, 17, tzinfo=ZoneInfo("UTC"))

    berlin = ZoneInfo("Europe/Berlin")
    prune_berlin = parse_crontab(EXAMPLE, JOBS, berlin)[2]
    # 10:00 in Shanghai is 03:00 in Berlin, so Berlin's 03:17 is still to come that day
    assert prune_berlin.trigger.get_next_fire_time(None, WEDNESDAY) == datetime(
        2026, 3, 4, 3, 17, tzinfo=berlin)


# --- cron semantics -------------------------------------------------------------------------

def test_day_of_week_1_is_monday_not_apschedulers_tuesday(tmp_path):
    trigger = schedule(tmp_path, "0 9 * * 1")
    times = fire_times(trigger, WEDNESDAY, 2)
    assert times == [datetime(2026, 3, 9, 9, 0, tzinfo=TZ), datetime(2026, 3, 16, 9, 0, tzinfo=TZ)]
    assert {t.strftime("%A") for t in times} == {"Monday"}


@pytest.mark.parametrize("dow, days", [
    ("0", {"Sun"}),
    ("7", {"Sun"}),
    ("1", {"Mon"}),
    ("6", {"Sat"}),
    ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ("mon-fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ("MON-Fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ("*/2", {"Sun", "Tue", "Thu", "Sat"}),
    ("1-5/2", {"Mon", "Wed", "Fri"}),
    ("sat,sun", {"Sat", "Sun"}),
    ("5-7", {"Fri", "Sat", "Sun"}),
    ("0,7", {"Sun"}),
    ("0-7", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    ("*", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
])
def test_day_of_week_follows_cron_numbering(tmp_path, dow, days):
    assert weekdays_fired(tmp_path, dow) == days


def test_day_of_month_and_day_of_week_both_set_fire_on_either_as_in_cron(tmp_path):
    # cron: "0 9 1 * 1" runs on the 1st of the month AND on every Monday
    times = fire_times(schedule(tmp_path, "0 9 1 * 1"), WEDNESDAY, 6)
    assert [t.date().isoformat() for t in times] == [
        "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30", "2026-04-01", "2026-04-06"]
    assert all((t.hour, t.minute) == (9, 0) for t in times)


def test_day_of_month_alone_fires_only_on_that_day(tmp_path):
    times = fire_times(schedule(tmp_path, "30 6 15 * *"), WEDNESDAY, 2)
    assert times == [datetime(2026, 3, 15, 6, 30, tzinfo=TZ), datetime(2026, 4, 15, 6, 30, tzinfo=TZ)]


@pytest.mark.parametrize("macro, expected", [
    ("@hourly", [datetime(2026, 3, 4, 11, 0), datetime(2026, 3, 4, 12, 0)]),
    ("@daily", [datetime(2026, 3, 5, 0, 0), datetime(2026, 3, 6, 0, 0)]),
    ("@midnight", [datetime(2026, 3, 5, 0, 0), datetime(2026, 3, 6, 0, 0)]),
    ("@weekly", [datetime(2026, 3, 8, 0, 0), datetime(2026, 3, 15, 0, 0)]),  # Sundays
    ("@monthly", [datetime(2026, 4, 1, 0, 0), datetime(2026, 5, 1, 0, 0)]),
    ("@yearly", [datetime(2027, 1, 1, 0, 0), datetime(2028, 1, 1, 0, 0)]),
])
def test_macros(tmp_path, macro, expected):
    (entry,) = entries_of(tmp_path, f"{macro} deliver\n")
    assert fire_times(entry.trigger, WEDNESDAY, 2) == [t.replace(tzinfo=TZ) for t in expected]


def test_macro_line_takes_arguments(tmp_path):
    (entry,) = entries_of(tmp_path, "@daily prune days=7\n")
    assert (entry.job, entry.kwargs, entry.schedule) == ("prune", {"days": 7}, "0 0 * * *")


def test_arguments_are_converted_to_the_jobs_parameter_types(tmp_path):
    entries = entries_of(tmp_path, "* * * * * poll_issues deliver=no\n"
                                   "* * * * * poll_issues deliver=yes\n"
                                   "* * * * * deliver max_seconds=12.5\n"
                                   "\t17  3 * * *\tprune   days=7  \n")
    assert [e.kwargs for e in entries] == [
        {"deliver": False}, {"deliver": True}, {"max_seconds": 12.5}, {"days": 7}]
    assert [e.line for e in entries] == [1, 2, 3, 4]


def test_a_byte_order_mark_before_a_leading_comment_is_ignored(tmp_path):
    path = tmp_path / "crontab"
    path.write_bytes(b"\xef\xbb\xbf# edited in Notepad\r\n17 3 * * * prune days=30\r\n")
    (entry,) = parse_crontab(path, JOBS, TZ)
    assert (entry.line, entry.job, entry.kwargs) == (2, "prune", {"days": 30})


# --- bad files ------------------------------------------------------------------------------

@pytest.mark.parametrize("line, reasons", [
    ("* * * * poll_issues", ["expected 5 time fields and a job name"]),
    ("17 3 * * *", ["expected 5 time fields and a job name"]),
    ("* * * * * poll_issue", ["unknown job 'poll_issue'", "poll_issues"]),
    ("61 * * * * deliver", ["bad schedule '61 * * * *'", "61"]),
    ("0 24 * * * deliver", ["bad schedule '0 24 * * *'", "24"]),
    ("0 0 32 * * deliver", ["bad schedule '0 0 32 * *'", "32"]),
    ("0 0 * 13 * deliver", ["bad schedule '0 0 * 13 *'", "13"]),
    ("0 9 * * 8 deliver", ["bad schedule '0 9 * * 8'", "day of week 8 is not in 0-7"]),
    ("0 9 * * 5-1 deliver", ["bad schedule '0 9 * * 5-1'", "runs backwards"]),
    ("0 9 * * fri-mon deliver", ["runs backwards"]),
    ("0 9 * * funday deliver", ["day of week 'funday'"]),
    ("0 9 * * */0 deliver", ["step of 0"]),
    ("@fortnightly deliver", ["unknown macro '@fortnightly'", "@daily"]),
    ("17 3 * * * prune 30", ["argument '30' is not key=value"]),
    ("17 3 * * * prune =30", ["argument '=30' is not key=value"]),
    ("17 3 * * * prune weeks=4", ["job 'prune' takes no argument 'weeks'", "days"]),
    ("17 3 * * * prune rt=x", ["job 'prune' takes no argument 'rt'"]),
    ("17 3 * * * prune days=abc", ["days='abc'", "not a valid int"]),
    ("17 3 * * * prune days=1.5", ["days='1.5'", "not a valid int"]),
    ("* * * * * poll_issues deliver=maybe", ["deliver='maybe'", "not a valid bool"]),
    ("* * * * * deliver max_seconds=soon", ["max_seconds='soon'", "not a valid float"]),
])
def test_bad_line_is_reported_with_file_and_line_number(tmp_path, line, reasons):
    path = write(tmp_path, f"# header\n* * * * * deliver\n{line}\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3: ")
    for reason in reasons:
        assert reason in problem


def test_every_bad_line_is_reported_not_just_the_first(tmp_path):
    path = write(tmp_path, "* * * * * poll_issues\n"
                           "61 * * * * deliver\n"
                           "# a comment\n"
                           "\n"
                           "0 9 * * 1 nope\n"
                           "17 3 * * * prune days=abc\n"
                           "@daily deliver\n")
    problems = problems_of(path)
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:2", f"{path}:5", f"{path}:6"]
    assert "61" in problems[0] and "unknown job 'nope'" in problems[1] and "abc" in problems[2]


def test_missing_file(tmp_path):
    path = tmp_path / "no-such-crontab"
    assert problems_of(path) == [f"{path}: cannot read crontab (No such file or directory)"]


def test_file_that_is_not_utf8_is_a_crontab_error(tmp_path):
    path = tmp_path / "crontab"
    path.write_bytes(b"# caf\xe9\n* * * * * deliver\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: cannot read crontab") and "UTF-8" in problem


@pytest.mark.parametrize("text", ["", "\n\n", "# only comments\n#* * * * * deliver\n   \n"])
def test_file_with_no_jobs(tmp_path, text):
    path = write(tmp_path, text)
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: no jobs")


# --- the scheduler --------------------------------------------------------------------------

def test_build_scheduler_makes_one_job_per_line(tmp_path):
    entries = entries_of(tmp_path, "# relay\n"
                                   "* * * * * poll_issues deliver=no\n"
                                   "\n"
                                   "0 * * * * deliver\n"
                                   "30 * * * * deliver max_seconds=10\n"
                                   "17 3 * * * prune days=7\n")
    scheduler = build_scheduler(entries, JOBS, rt=object(), tz=TZ)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"poll_issues@2", "deliver@4", "deliver@5", "prune@6"}
        assert jobs["deliver@5"].kwargs == {"max_seconds": 10.0}
        assert jobs["poll_issues@2"].kwargs == {"deliver": False}
        for entry in entries:
            assert jobs[f"{entry.job}@{entry.line}"].trigger is entry.trigger
        now = datetime.now(TZ)
        prune_at = jobs["prune@6"].next_run_time
        assert (prune_at.hour, prune_at.minute, prune_at.second) == (3, 17, 0)
        assert timedelta(0) < prune_at - now <= timedelta(days=1)
        poll_at = jobs["poll_issues@2"].next_run_time
        assert poll_at.second == 0 and timedelta(0) < poll_at - now <= timedelta(minutes=1)
        assert jobs["deliver@4"].next_run_time.minute == 0
        assert jobs["deliver@5"].next_run_time.minute == 30
    finally:
        scheduler.shutdown(wait=False)


def test_scheduled_job_runs_the_named_function_with_runtime_and_arguments(tmp_path):
    calls, ran = [], threading.Event()

    def probe(rt, n: int = 1) -> None:
        calls.append((rt, n))
        ran.set()

    jobs = {"probe": probe}
    entries = parse_crontab(write(tmp_path, "0 0 1 1 * probe n=3\n"), jobs, TZ)
    rt = object()
    scheduler = build_scheduler(entries, jobs, rt, TZ)
    scheduler.start()
    try:
        scheduler.get_job("probe@1").modify(next_run_time=datetime.now(TZ))  # run it now
        assert ran.wait(5)
    finally:
        scheduler.shutdown(wait=True)
    assert calls == [(rt, 3)]


def test_run_job_logs_a_failing_job_instead_of_raising(caplog):
    def broken(rt, **kwargs):
        raise RuntimeError("guance is down")

    with caplog.at_level(logging.ERROR, logger="relay.schedule"):
        run_job(broken, "poll_issues", object())  # must not raise
    (record,) = [r for r in caplog.records if r.name == "relay.schedule"]
    assert record.levelno == logging.ERROR
    assert "poll_issues failed" in record.getMessage()
    assert record.exc_info and isinstance(record.exc_info[1], RuntimeError)


def test_poll_issues_deliver_no_from_the_crontab_only_queues(tmp_path, make_runtime, guance,
                                                             feishu, clock):
    rt = make_runtime()
    entries = entries_of(tmp_path, "* * * * * poll_issues deliver=no\n* * * * * deliver\n")
    scheduler = build_scheduler(entries, JOBS, rt, TZ)
    poll_job, deliver_job = (scheduler.get_job(i) for i in ("poll_issues@1", "deliver@2"))
    poll_job.func(*poll_job.args, **poll_job.kwargs)  # first run starts watching from now
    clock.advance(30)
    uuid = guance.add_issue("disk full", level=0, message="/var at 99%")
    clock.advance(30)
    poll_job.func(*poll_job.args, **poll_job.kwargs)
    assert feishu.received == []  # deliver=no is False, not the (truthy) string "no"
    deliver_job.func(*deliver_job.args, **deliver_job.kwargs)
    assert [c["issue_uuid"] for c in feishu.for_hook("hook-default")] == [uuid]


# --- the commands ---------------------------------------------------------------------------

def test_check_crontab_accepts_the_example(clean_env, capsys):
    assert cli.main(["check-crontab", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    prune_line = next(e.line for e in parse_crontab(EXAMPLE, JOBS, TZ) if e.job == "prune")
    assert f"{EXAMPLE}:{prune_line}: 17 3 * * *  prune days=30" in out.splitlines()
    assert len(out.splitlines()) == 5


def test_check_crontab_rejects_a_bad_file_with_file_and_line(clean_env, tmp_path, capsys):
    path = write(tmp_path, "* * * * * deliver\n# ok\n0 9 * * 8 poll_issues\n* * * * * prune x\n")
    assert cli.main(["check-crontab", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:3: ") and "day of week 8" in lines[0]
    assert lines[1].startswith(f"{path}:4: ") and "'x' is not key=value" in lines[1]


def test_check_crontab_missing_file(clean_env, tmp_path, capsys):
    assert cli.main(["check-crontab", str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'}: cannot read crontab" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["* * * * * poll_issues\n61 * * * * deliver\n", None])
def test_run_with_a_bad_crontab_exits_2_before_starting(clean_env, tmp_path, monkeypatch, capsys,
                                                        content):
    path = tmp_path / "relay.cron"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("RELAY_GUANCE_API_KEY", "test-api-key-abcdef")
    monkeypatch.setenv("RELAY_REPLY_TOKEN", "test-reply-token-0123456789")
    monkeypatch.setenv("RELAY_FEISHU_WEBHOOK_URL",
                       "https://www.feishu.cn/flow/api/trigger-webhook/abc123")
    monkeypatch.setenv("RELAY_CRONTAB", str(path))
    monkeypatch.setenv("RELAY_PORT", "0")

    def started(*args, **kwargs):  # guard: a bug here would otherwise serve forever
        raise AssertionError("relay run started although the crontab is bad")

    monkeypatch.setattr(cli, "_serve_forever", started)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    if content is None:
        assert err.startswith(f"{path}: cannot read crontab")
    else:
        assert err.startswith(f"{path}:2: bad schedule '61 * * * *'")
    assert not (tmp_path / "relay.db").exists()  # no runtime (and no database) was made
