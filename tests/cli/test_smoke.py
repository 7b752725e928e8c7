from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll


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

    from relay.sandbox.demo import run_sandbox

    assert run_sandbox(Path("crontab.example")) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "Traceback" not in captured.err  # the servers stop without a thread dying
    assert out.count("received a card") == 2 and out.count("received a signed card") == 1
    assert "POST /feishu/reply → 200" in out and "sandbox OK" in out
    assert "在观测云中查看" in out and "已作为评论发到" in out  # Chinese cards and answers by default
    assert "once (in the HTTP answer, not again through the sessionWebhook): '已作为评论发到 issue_" \
        in out
    # step 10: a text command, a signed link and a card button acted on fake issues
    assert "10. acting on issues from chat" in out and "the same link again → 409" in out
    assert "the bot answers in the card's thread: '已解决 issue_" in out
    # the DingTalk app robot's step: back on its own after a drop and after a half-open socket
    assert "relay reconnected by itself (yes)" in out
    assert "noticed the missing pongs and reconnected (yes); /healthz says connected" in out
    # step 3: an issue whose title and message try to @all arrives as text
    assert "&#60;at id=all&#62;" in out and "@-mentioning nobody" in out


def test_proxy_and_ca_settings_in_the_environment_are_honoured(monkeypatch):
    """Without a proxy relay skips requests' per-request environment lookups (they cost ~0.5 ms
    a card); a CA bundle is still used, and with a proxy set requests must still see it."""
    from relay.http import http_session

    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY",
                 "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    url = "https://open.feishu.cn/x"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/company-ca.pem")
    session = http_session()
    assert session.trust_env is False
    assert session.merge_environment_settings(url, {}, None, None, None)["verify"] == \
        "/etc/company-ca.pem"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = http_session()
    assert session.merge_environment_settings(url, {}, None, None, None)["proxies"]["https"] == \
        "http://proxy.example:3128"
