"""`GET /healthz` and `GET /metrics`: what an operator's probe and Prometheus see."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.web.app import create_app
from relay.web.health import poll_interval
from relay.web.server import WebServer

AUTH = {"Authorization": "Bearer test-reply-token-0123456789"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def write_crontab(tmp_path, line: str):
    path = tmp_path / "crontab"
    path.write_text(f"{line}\n* * * * * deliver\n")
    return path


def test_health_over_a_socket_turns_503_after_three_missed_polls(make_runtime, tmp_path,
                                                                 two_teams, feishu, clock):
    rt = make_runtime(crontab=write_crontab(tmp_path, "* * * * * poll_issues"), **two_teams)
    poll(rt)
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        resp = requests.get(f"{server.url}/healthz", timeout=5)
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
        body = resp.json()
        assert body["poll_interval_seconds"] == 60
        assert body["channels"]["ops"] == {"last_success_age_seconds": 0, "ok": True,
                                           "last_error": None, "pending": 0, "dead": 0}
        clock.advance(150)
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        clock.advance(31)  # 181 s since the last successful poll: three minutes missed
        resp = requests.get(f"{server.url}/healthz", timeout=5)
    finally:
        server.stop()
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unhealthy"
    assert body["channels"]["db"]["ok"] is False
    assert body["channels"]["db"]["last_success_age_seconds"] == 181


def test_health_counts_pending_and_dead_per_channel_and_follows_the_crontab(
        make_runtime, tmp_path, two_teams, guance, feishu, clock):
    rt = make_runtime(crontab=write_crontab(tmp_path, "*/5 * * * * poll_issues"),
                      delivery_max_age_seconds=60, **two_teams)
    client = create_app(rt).test_client()
    poll(rt)
    clock.advance(10)
    guance.add_issue("disk full", channels=["db"])
    guance.add_issue("replica lag", channels=["db"])
    feishu.down_until = clock.now() + 10_000
    clock.advance(1)
    poll(rt)
    deliver(rt)  # the first fails, the second waits behind it
    clock.advance(100)
    deliver(rt)  # the first is now too old: dead
    body = client.get("/healthz").get_json()
    assert body["poll_interval_seconds"] == 300
    assert body["status"] == "ok"  # 101 s is within three five-minute intervals
    assert (body["channels"]["db"]["pending"], body["channels"]["db"]["dead"]) == (1, 1)
    assert (body["channels"]["ops"]["pending"], body["channels"]["ops"]["dead"]) == (0, 0)


def test_health_is_503_when_the_database_is_unreachable(make_runtime):
    rt = make_runtime()
    app = create_app(rt)
    rt.engine = create_engine("postgresql+psycopg://relay@127.0.0.1:9/relay",
                              connect_args={"connect_timeout": 2})  # nothing listens on port 9
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "unreachable"


def test_a_channel_never_polled_is_unhealthy_after_three_intervals(make_runtime, clock):
    rt = make_runtime()
    client = create_app(rt).test_client()
    body = client.get("/healthz").get_json()
    assert body["channels"]["default"]["last_success_age_seconds"] is None
    assert body["status"] == "ok"  # relay just started
    clock.advance(181)
    assert client.get("/healthz").status_code == 503


@pytest.mark.parametrize("text, seconds", [("gibberish", 60.0), ("0 * * * * poll_issues", 3600.0)])
def test_poll_interval_from_the_crontab(make_runtime, tmp_path, text, seconds):
    path = tmp_path / "crontab"
    path.write_text(text + "\n")
    assert poll_interval(make_runtime(crontab=path).settings) == seconds


def test_metrics_count_polls_deliveries_latency_and_replies(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    poll(rt)
    clock.advance(30)
    uuid = guance.add_issue("cpu high")
    clock.advance(12)
    guance.add_issue("cpu higher")
    feishu.faults.append("500")  # the first card fails once
    poll(rt)
    deliver(rt)
    clock.advance(3600)
    deliver(rt)
    guance.faults.append("500")
    poll(rt)
    server = WebServer(create_app(rt), "127.0.0.1", 0).start()
    try:
        requests.post(f"{server.url}/feishu/reply", headers=AUTH, json={"content": f"#{uuid}#ok"},
                      timeout=5)
        requests.post(f"{server.url}/feishu/reply", headers=AUTH, json={"content": "no uuid"},
                      timeout=5)
        requests.post(f"{server.url}/feishu/reply", json={"content": f"#{uuid}#ok"}, timeout=5)
        resp = requests.get(f"{server.url}/metrics", timeout=5)
    finally:
        server.stop()
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    got = samples(resp.text)
    assert got[("relay_polls_total", (("outcome", "ok"),))] == 2
    assert got[("relay_polls_total", (("outcome", "failed"),))] == 1
    assert got[("relay_issues_seen_total", ())] == 2
    assert got[("relay_deliveries_total", (("outcome", "failed"),))] == 1
    assert got[("relay_deliveries_total", (("outcome", "sent"),))] == 2
    assert got[("relay_delivery_retries_total", ())] == 1
    assert got[("relay_delivery_latency_seconds_count", ())] == 2
    # created 42 s and 30 s before the first try; the retry came an hour later
    assert got[("relay_delivery_latency_seconds_bucket", (("le", "60.0"),))] == 0
    assert got[("relay_delivery_latency_seconds_bucket", (("le", "14400.0"),))] == 2
    assert got[("relay_reply_requests_total", (("outcome", "ok"),))] == 1
    assert got[("relay_reply_requests_total", (("outcome", "bad_request"),))] == 1
    assert got[("relay_reply_requests_total", (("outcome", "unauthorized"),))] == 1


def test_each_runtime_counts_only_its_own_work(make_runtime):
    first, second = make_runtime(), make_runtime()
    poll(first)
    text = create_app(second).test_client().get("/metrics").get_data(as_text=True)
    assert ('relay_polls_total{outcome="ok"}' not in text)


def test_prune_forgets_logged_replies_older_than_its_days(make_runtime, guance, clock):
    from jobs.prune import prune
    from relay.store import replylog
    from relay.web.app import create_app
    from tests.helpers import REPLY_TOKEN

    rt = make_runtime()
    uuid = guance.add_issue("cpu high")
    client = create_app(rt).test_client()
    auth = {"Authorization": f"Bearer {REPLY_TOKEN}"}
    client.post("/feishu/reply", headers=auth, json={"content": f"#{uuid}#old"})
    clock.advance(31 * 86_400)
    client.post("/feishu/reply", headers=auth, json={"content": f"#{uuid}#new"})
    prune(rt, days=30)
    assert [r.text for r in replylog.recent(rt.engine)] == ["new"]


@pytest.mark.parametrize("fault, shown", [("500", "HTTP 500"), ("malformed", "not JSON"),
                                          ("403", "HTTP 403")])
def test_a_failing_channel_list_shows_on_healthz_until_a_poll_succeeds(
        make_runtime, guance, clock, fault, shown):
    if fault == "403":
        rt = make_runtime(guance_api_key="not-the-workspace-key-123")  # ft.InvalidAPIKey
    else:
        rt = make_runtime()
        guance.faults.append(fault)
    client = create_app(rt).test_client()
    assert poll(rt).failed == ["*"]  # relay's first run: the channel list fails
    error = client.get("/healthz").get_json()["channels"]["default"]["last_error"]
    assert error and "could not list Guance channels" in error and shown in error
    if fault == "403":
        return
    assert poll(rt).polled == ["default"]
    assert client.get("/healthz").get_json()["channels"]["default"]["last_error"] is None
    clock.advance(601)  # the cached channel list is read again, and fails
    guance.faults.append(fault)
    assert poll(rt).failed == ["*"]
    body = client.get("/healthz").get_json()
    assert shown in body["channels"]["default"]["last_error"]
    clock.advance(60)
    assert poll(rt).polled == ["default"]
    assert client.get("/healthz").get_json()["channels"]["default"]["last_error"] is None


def test_a_watched_channel_missing_from_the_workspace_shows_on_healthz(make_runtime, guance):
    guance.add_channel("ops")
    rt = make_runtime(channels="ops,payments")
    poll(rt)
    body = create_app(rt).test_client().get("/healthz").get_json()
    assert "not in this Guance workspace" in body["channels"]["payments"]["last_error"]
    assert body["channels"]["ops"]["last_error"] is None
