from relay.poller import poll
from relay.delivery import deliver


def test_new_issue_reaches_feishu_once(make_runtime, guance, feishu, clock):
    rt = make_runtime()
    poll(rt)  # first run: starts watching from now
    clock.advance(30)
    uuid = guance.add_issue("disk full", level=0, message="/var at 99%")
    clock.advance(30)
    poll(rt)
    deliver(rt)
    clock.advance(60)
    poll(rt)
    deliver(rt)
    cards = feishu.for_hook("hook-default")
    assert [c["issue_uuid"] for c in cards] == [uuid]
    assert cards[0]["level"] == "P0" and cards[0]["message"] == "/var at 99%"


def test_sandbox_shows_cards_and_the_reply_round_trip(capsys):
    from pathlib import Path

    from relay.demo import run_sandbox

    assert run_sandbox(Path("crontab.example")) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "Traceback" not in captured.err  # the servers stop without a thread dying
    assert out.count("received a card") == 2 and out.count("received a signed card") == 1
    assert "POST /feishu/reply → 200" in out and "sandbox OK" in out
