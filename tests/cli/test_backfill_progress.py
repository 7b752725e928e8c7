"""A long `relay poll --since` backfill: progress (pages, issues, waits for the call budget) as
one live line on a terminal and as plain lines otherwise; it waits for the budget instead of
stopping half-way."""

from __future__ import annotations

import io

import pytest

from relay.admin.progress import BackfillProgress
from relay.cli import main
from relay.pipeline.poll import poll


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def seed(guance, clock, count: int = 250) -> int:
    start = int(clock.now())
    for n in range(count):
        guance.add_issue(f"issue {n}", created_at=start + n)
    return start


def test_backfill_waits_for_the_budget_and_reports_pages_and_waits(make_runtime, guance, clock):
    since = seed(guance, clock)
    clock.advance(600)
    # 3 calls a minute: the channel list and two pages, then the third page waits
    rt = make_runtime(guance_calls_per_minute=3, guance_reply_reserve=0, guance_poll_reserve=0)
    out = io.StringIO()
    rt.guance.progress = BackfillProgress(out)
    report = poll(rt, since=since)
    assert report.issues_seen == 250 and report.waiting == []
    lines = out.getvalue().splitlines()
    assert lines[0] == "backfill: default page 1 of 3; 1 page(s), 100 issue(s) read"
    assert lines[1] == "backfill: default page 2 of 3; 2 page(s), 200 issue(s) read"
    assert lines[2].startswith("backfill: waiting ") and lines[2].endswith(
        " s for the Guance call budget")
    assert lines[3] == "backfill: default page 3 of 3; 3 page(s), 250 issue(s) read"
    assert "\r" not in out.getvalue()


def test_without_a_reporter_a_poll_does_not_wait_a_minute(make_runtime, guance, clock):
    since = seed(guance, clock)
    clock.advance(600)
    rt = make_runtime(guance_calls_per_minute=3, guance_reply_reserve=0, guance_poll_reserve=0)
    start = clock.now()
    report = poll(rt, since=since)  # the scheduled poll's rule: give up and let the next run go on
    assert report.waiting == ["default"] and clock.now() - start <= 20


def test_on_a_terminal_the_progress_is_one_line_rewritten(make_runtime, guance, clock):
    since = seed(guance, clock)
    clock.advance(600)
    rt = make_runtime(guance_calls_per_minute=3, guance_reply_reserve=0, guance_poll_reserve=0)
    term = Terminal()
    progress = rt.guance.progress = BackfillProgress(term)
    poll(rt, since=since)
    progress.done()
    text = term.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once at the end
    frames = text.rstrip("\n").split("\r\x1b[K")[1:]
    assert frames[-1] == "backfill: default page 3 of 3; 3 page(s), 250 issue(s) read"
    assert any("(waiting " in frame and "for the Guance call budget)" in frame
               for frame in frames)


def test_relay_poll_since_prints_plain_progress_lines_when_not_a_terminal(
        clean_env, tmp_path, guance, clock, capsys, root_logging):
    since = seed(guance, clock, count=120)
    for name, value in {"RELAY_GUANCE_BASE_URL": guance.url,
                        "RELAY_GUANCE_API_KEY": guance.api_key,
                        "RELAY_FEISHU_WEBHOOK_URL": "http://127.0.0.1:9/flow/api/trigger-webhook/x",
                        "RELAY_DATABASE_URL": f"sqlite:///{tmp_path}/relay.db"}.items():
        clean_env.setenv(name, value)
    assert main(["poll", "--since", str(since), "--no-deliver"]) == 0
    out, err = capsys.readouterr()
    assert "backfill: default page 1 of 2; 1 page(s), 100 issue(s) read\n" in err
    assert "backfill: default page 2 of 2; 2 page(s), 120 issue(s) read\n" in err
    assert "120 issue(s) seen" in out
