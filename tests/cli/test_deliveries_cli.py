"""`relay deliveries` and `relay redeliver`: an admin sees why a card did not arrive and resends it."""

import time

from relay.store.outbox import counts_by_status
from relay.cli import main
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll


def test_dead_delivery_is_listed_with_its_error_and_redelivered(
        make_runtime, guance, feishu, clock, monkeypatch, capsys, tmp_path):
    rt = make_runtime(delivery_max_age_seconds=60)
    monkeypatch.setenv("RELAY_DATABASE_URL", rt.settings.database_url)
    monkeypatch.chdir(tmp_path)
    poll(rt)
    clock.advance(10)
    uuid = guance.add_issue("broker down")
    clock.advance(10)
    poll(rt)
    feishu.faults.extend(["code"] * 10)
    for _ in range(4):  # keeps failing until older than the max age: dead
        deliver(rt)
        clock.advance(1000)
    assert counts_by_status(rt.engine) == {"dead": 1}

    assert main(["deliveries", "--status", "dead"]) == 0
    out = capsys.readouterr().out
    assert uuid in out and "Feishu code 19024" in out and "dead" in out

    feishu.faults.clear()
    assert main(["redeliver", "--dead"]) == 0
    assert "1 deliveries queued again" in capsys.readouterr().out
    clock.advance(time.time() - clock.now() + 1)  # the CLI queued it "now" by the wall clock
    deliver(rt)
    assert [c["issue_uuid"] for c in feishu.for_hook("hook-default")] == [uuid]
    assert main(["deliveries", "--status", "dead"]) == 0
    assert "(no deliveries with status dead)" in capsys.readouterr().out


def test_redeliver_needs_ids_or_dead(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["redeliver"]) == 2
    assert "give delivery IDs or --dead" in capsys.readouterr().err
    assert main(["redeliver", "999"]) == 1  # nothing with that ID
