"""What Guance can send that relay must survive: malformed issues, huge messages, a backlog
larger than one run's call budget."""

from __future__ import annotations

import logging

from prometheus_client.parser import text_string_to_metric_families

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.platforms.base import MAX_STORED_MESSAGE, cut
from tests.helpers import EN, cards, outbox


def malformed_count(rt) -> float:
    for family in text_string_to_metric_families(rt.metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name == "relay_issues_malformed_total":
                return sample.value
    raise AssertionError("relay_issues_malformed_total is not exported")


def test_malformed_issues_are_skipped_with_one_warning_and_polling_goes_on(
        make_runtime, two_teams, guance, feishu, clock, caplog):
    rt = make_runtime(**two_teams)
    poll(rt)
    clock.advance(10)
    good = [guance.add_issue("before", ["ops"])]
    bad = [guance.add_issue("iso time", ["ops"],
                            listed_as={"createAt": "2026-12-01T07:00:00Z"}),
           guance.add_issue("far future", ["ops"], listed_as={"createAt": 1e30}),
           guance.add_issue("negative", ["ops"], listed_as={"createAt": -5})]
    long_uuid = "issue_" + "x" * 80
    guance.add_issue("uuid too long", ["ops"], listed_as={"uuid": long_uuid})
    good += [guance.add_issue("after", ["ops"]), guance.add_issue("other channel", ["db"])]
    clock.advance(20)
    with caplog.at_level(logging.WARNING, logger="relay"):
        report = poll(rt)
        deliver(rt)
    assert report.failed == [] and sorted(report.polled) == ["db", "ops"]
    sent = [c["issue_uuid"] for c in cards(feishu, "hook-ops") + cards(feishu, "hook-db")]
    assert sorted(sent) == sorted(good)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for uuid in bad + [long_uuid[:64]]:
        (line,) = [w for w in warnings if uuid in w]
        assert "ops" in line and "malformed" in line
    assert malformed_count(rt) == 4

    caplog.clear()
    clock.advance(60)  # the next run re-reads them in its overlap: no second warning
    with caplog.at_level(logging.WARNING, logger="relay"):
        assert poll(rt).failed == []
    assert not [r for r in caplog.records if "malformed" in r.getMessage()]
    assert malformed_count(rt) == 4
    assert len(outbox(rt)) == len(good)


def test_an_8_mb_message_is_stored_cut_to_what_a_sink_can_send(make_runtime, guance, feishu,
                                                               clock):
    rt = make_runtime()
    poll(rt)
    clock.advance(10)
    huge = "disk full" + " disk full" * 800_000  # 8 MB
    uuid = guance.add_issue("T" * 50_000, message=huge)
    clock.advance(20)
    poll(rt)
    (row,) = outbox(rt)
    stored = row.payload["message"]
    assert len(stored) < MAX_STORED_MESSAGE + 100
    assert stored == cut(huge, MAX_STORED_MESSAGE, EN)  # the sinks' own truncation marker
    assert stored.endswith(f"… (truncated, {len(huge) - MAX_STORED_MESSAGE} more characters)")
    assert len(row.payload["title"]) < 1_100
    deliver(rt)
    (card,) = cards(feishu)
    assert card["issue_uuid"] == uuid and card["message"] == stored


def test_a_backlog_larger_than_a_runs_budget_drains_a_budget_of_pages_a_run(
        make_runtime, guance, feishu, clock):
    guance.calls_per_minute = 20  # Guance's per-key limit, enforced by the fake
    rt = make_runtime()  # 20 calls a minute, 4 of them left for replies: 16 a run
    poll(rt)  # the first run starts the cursor (and lists the channels: one call)
    start = clock.now()
    backlog = [guance.add_issue(f"node {i} down", created_at=start + 1 + i * 55 // 2000)
               for i in range(2000)]  # 20 pages of 100
    newer: list[str] = []
    runs = 0
    while runs < 6:
        clock.advance(max(start + 60 * (runs + 1) - clock.now(), 0))
        runs += 1
        report = poll(rt)
        assert report.failed == [], report
        queued = {r.issue_uuid for r in outbox(rt)}
        if runs == 1:  # the first run reads what its budget allows, and keeps it
            assert 1_000 <= len(queued & set(backlog)) < 2000
            newer = [guance.add_issue("created while draining", created_at=clock.now() + 1)]
        if set(backlog) <= queued and set(newer) <= queued:
            break
    print(f"\nbacklog of 2000 issues (20 pages) drained in {runs} runs, "
          f"{len(guance.calls)} Guance calls, {guance.rate_limited} refused")
    assert set(backlog) | set(newer) <= {r.issue_uuid for r in outbox(rt)}
    assert runs <= 3  # ⌈20 pages / 16 calls a run⌉ = 2, and one for the issue made meanwhile
    assert guance.rate_limited == 0 and guance.calls_in_any_minute() <= 20
    deliver(rt)
    assert feishu.received  # the storm digest cards go out


def test_pages_read_before_guance_failed_are_kept_and_the_next_run_reads_only_the_rest(
        make_runtime, guance, feishu, clock):
    rt = make_runtime(channels="chan_default0000000000000000000000")  # no channel-list call
    poll(rt)
    made = [guance.add_issue(f"n{i}", created_at=clock.now() + 1 + i // 10) for i in range(250)]
    clock.advance(60)
    guance.faults.extend(["", "", "500"])  # pages 1 and 2 answer, page 3 fails
    assert poll(rt).failed == ["chan_default0000000000000000000000"]
    assert len({r.issue_uuid for r in outbox(rt)} & set(made)) == 200
    calls = len(guance.calls)
    clock.advance(60)
    assert poll(rt).failed == []
    assert set(made) <= {r.issue_uuid for r in outbox(rt)}
    pages = [page for _, page in guance.calls[calls:]]
    assert len(pages) == 1  # only page 3 of the same window was read again
