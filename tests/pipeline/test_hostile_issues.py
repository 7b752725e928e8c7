"""What Guance can send that relay must survive: malformed issues, huge messages, a backlog
larger than one run's call budget."""

from __future__ import annotations

import logging

from prometheus_client.parser import text_string_to_metric_families

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.platforms.base import MAX_STORED_MESSAGE, cut
from tests.helpers import cards, outbox


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
    assert stored == cut(huge, MAX_STORED_MESSAGE)  # the sinks' own truncation marker
    assert stored.endswith(f"… (truncated, {len(huge) - MAX_STORED_MESSAGE} more characters)")
    assert len(row.payload["title"]) < 1_100
    deliver(rt)
    (card,) = cards(feishu)
    assert card["issue_uuid"] == uuid and card["message"] == stored
