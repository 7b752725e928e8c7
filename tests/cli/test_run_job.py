"""`relay run-job NAME [key=value ...]` runs one crontab job once, now, with its arguments checked
as a crontab line's are."""

from __future__ import annotations

import logging
import time

import pytest

from relay import cli
from tests.helpers import card_uuids


@pytest.fixture(autouse=True)
def keep_logging():
    """`relay run-job` sets up logging on the captured stderr: put the root logger back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def env(clean_env, guance, feishu, tmp_path):
    clean_env.setenv("RELAY_GUANCE_BASE_URL", guance.url)
    clean_env.setenv("RELAY_GUANCE_API_KEY", guance.api_key)
    clean_env.setenv("RELAY_FEISHU_WEBHOOK_URL",
                     f"{feishu.url}/flow/api/trigger-webhook/hook-default")
    clean_env.setenv("RELAY_DATABASE_URL", f"sqlite:///{tmp_path}/relay.db")


def test_run_job_runs_the_named_job_with_its_arguments(clean_env, guance, feishu, tmp_path,
                                                       capsys):
    env(clean_env, guance, feishu, tmp_path)
    assert cli.main(["run-job", "poll_issues"]) == 0  # the first poll starts the cursor
    uuid = guance.add_issue("Disk full", created_at=time.time())  # the CLI runs on real time
    assert cli.main(["run-job", "poll_issues", "deliver=no"]) == 0
    assert card_uuids(feishu) == []  # deliver=no: only queued
    assert cli.main(["run-job", "deliver", "max_seconds=5"]) == 0
    assert card_uuids(feishu) == [uuid]
    assert cli.main(["run-job", "track_issues", "max_calls=1"]) == 0
    assert "relay run-job: track_issues done" in capsys.readouterr().out


def test_run_job_refuses_an_unknown_job_or_argument(clean_env, capsys):
    assert cli.main(["run-job", "pol_issues"]) == 2
    assert "unknown job 'pol_issues' (known: deliver, notify_replies" in capsys.readouterr().err
    assert cli.main(["run-job", "prune", "day=3"]) == 2
    assert "job 'prune' takes no argument 'day' (it takes: days)" in capsys.readouterr().err
    assert cli.main(["run-job", "prune", "days=many"]) == 2
    assert "argument days='many' of job 'prune' is not a valid int" in capsys.readouterr().err
