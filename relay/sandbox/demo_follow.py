"""`relay sandbox`, last steps: cards that follow the issue. A P0 issue whose manager is mapped to
chat identities is carded everywhere with @-mentions; it is resolved in the fake Guance; the
tracker updates the app-bot card in place and the other platforms get a short follow-up."""

from __future__ import annotations

import secrets
from pathlib import Path

from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.track_issues import track_issues
from relay.pipeline.poll import poll
from relay.sandbox.feishu import FakeFeishu, card_texts
from relay.sandbox.feishu_app import FakeFeishuApp
from relay.sandbox.guance import FakeGuance
from relay.sandbox.robots import FakeDingTalk, FakeWeCom, robot_url
from relay.sandbox.server import ServerThread
from relay.platforms.registry import build_runtime

CHAT = "oc_sandboxincidents00000000001"
PEOPLE = {"acnt_lilei": {"name": "Li Lei", "feishu": "ou_lilei0000000000000000000001",
                         "dingtalk": "13800000000", "wecom": "lilei"},
          "oncall@example.com": {"name": "On-call", "feishu": "oncall@example.com",
                                 "dingtalk": "13900000000", "wecom": "oncall"}}


def _texts(node: object) -> list[str]:
    return list(card_texts(node))


def run_follow_step(guance: FakeGuance, guance_url: str, workdir: Path) -> bool:
    feishu, open_api = FakeFeishu(), FakeFeishuApp()
    dingtalk, wecom = FakeDingTalk(), FakeWeCom()
    servers = [ServerThread(f.app) for f in (feishu, open_api, dingtalk, wecom)]
    f_url, o_url, d_url, w_url = (s.url for s in servers)
    guance.add_channel("incidents")
    settings = Settings(
        _env_file=None, guance_base_url=guance_url, guance_api_key=guance.api_key,
        channels="incidents", feishu_app_id=open_api.app_id,
        feishu_app_secret=open_api.app_secret, feishu_verification_token=secrets.token_hex(8),
        feishu_open_base_url=o_url, feishu_app_chats={"incidents-app": CHAT},
        destinations={"incidents-flow": f"{f_url}/flow/api/trigger-webhook/incidents0005",
                      "incidents-bot": f"{f_url}/open-apis/bot/v2/hook/incidents0006",
                      "incidents-ding": robot_url(d_url, "dingtalk", "incidents0007"),
                      "incidents-wecom": robot_url(w_url, "wecom", "incidents0008")},
        routes={"incidents": ["incidents-app", "incidents-flow", "incidents-bot",
                              "incidents-ding", "incidents-wecom"]},
        mentions=PEOPLE, level_mentions={"incidents": {"P0": ["oncall@example.com"]}},
        database_url=f"sqlite:///{workdir}/relay-follow.db")
    rt = build_runtime(settings)
    try:
        now = int(rt.clock.now())
        issue = guance.add_issue("Payment API error rate above 5%", ["incidents"],
                                 level="system_level_0", created_at=now - 23 * 60,
                                 message="5xx ratio 7.2% on pay-gateway",
                                 managers=["acnt_lilei"])
        print("\n8. a P0 issue managed by Li Lei (mapped in RELAY_MENTIONS; P0 also calls the "
              "on-call) is carded on every platform, with @-mentions")
        poll(rt, since=now - 3600)
        deliver(rt)
        card = next(m for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive")
        ding, wc = dingtalk.received[0][1], wecom.received[0][1]
        print(f"   Feishu app-bot card: {_texts(card['content'])[-1]}")
        print(f"   Feishu custom bot card: {_texts(feishu.for_hook('incidents0006')[0])[-1]}")
        print(f"   DingTalk: {ding['markdown']['text'].splitlines()[-1]}  at={ding['at']}")
        print(f"   WeCom: {wc['markdown']['content'].splitlines()[-1]}")
        print("\n9. Li Lei resolves it in Guance; track_issues sees it and tells every group once")
        guance.set_status(issue, 20, by="Li Lei")
        track_issues(rt)
        deliver(rt)
        track_issues(rt)  # a re-run finds nothing new
        deliver(rt)
        updated = open_api.card(card["message_id"])
        texts = _texts(updated)
        colour = updated["header"]["template"]
        print(f"   app-bot card updated in place: header {texts[0]!r} ({colour})")
        print(f"   │ {texts[-1].replace(chr(10), ' / ')}")
        thread = open_api.texts_replying_to(card["message_id"])
        print(f"   in the card's thread: {thread}")
        flow = [p for p in feishu.for_hook("incidents0005") if p["event"] == "status"]
        bot = [b["content"]["text"] for b in feishu.for_hook("incidents0006")
               if b["msg_type"] == "text"]
        ding_up = [b["markdown"]["text"] for _, b in dingtalk.received[1:]]
        wc_up = [b["markdown"]["content"] for _, b in wecom.received[1:]]
        if flow:
            print(f"   Feishu flow params: event={flow[0]['event']!r} status={flow[0]['status']!r}")
        print(f"   Feishu custom bot: {bot}")
        print(f"   DingTalk: {ding_up}")
        print(f"   WeCom: {wc_up}")
        return (len(open_api.updates) == 1 and len(thread) == 1 and len(flow) == 1
                and len(bot) == 1 and len(ding_up) == 1 and len(wc_up) == 1
                and "<at id=ou_lilei0000000000000000000001></at>" in _texts(card["content"])[-1])
    finally:
        rt.close()
        for server in servers:
            server.stop()
