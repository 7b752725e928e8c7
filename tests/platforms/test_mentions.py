"""Cards @-mention the issue's managers and the people a channel names for its level, each
platform in its own way; a person with no identity on a platform is named in plain text."""

from __future__ import annotations

import pytest

from relay.config import load_settings
from relay.errors import ConfigError
from relay.sandbox.feishu import card_texts
from tests.appbot import CHAT
from tests.follow import BOT, everywhere, relay_issue
from tests.robots import DING_TOKEN, WECOM_KEY

PEOPLE = {
    "acnt_lilei": {"name": "Li Lei", "feishu": "ou_lilei000", "dingtalk": "13800000000",
                   "wecom": "lilei"},
    "oncall@example.com": {"name": "On-call", "feishu": "oncall@example.com",
                           "dingtalk": "dt_oncall", "wecom": "oncall"},
}
LEVELS = {"default": {"P0,P1": ["oncall@example.com", "Han Meimei"]}}  # Han Meimei: unmapped


@pytest.fixture
def sent(app_rt, feishu, dingtalk, wecom, guance, clock, open_api):
    rt = everywhere(app_rt, feishu, dingtalk, wecom, mentions=PEOPLE, level_mentions=LEVELS)
    relay_issue(rt, guance, clock, "Checkout down", level="system_level_0",
                managers=["acnt_lilei", "acnt_unknown"])
    bot = feishu.for_hook(BOT)[0]["card"]
    app = [m for m in open_api.in_chat(CHAT) if m["msg_type"] == "interactive"][0]["content"]
    return {"bot": list(card_texts(bot)), "app": list(card_texts(app)),
            "dingtalk": dingtalk.for_robot(DING_TOKEN)[0], "wecom": wecom.for_robot(WECOM_KEY)[0]}


def test_feishu_cards_use_at_tags(sent):
    for card in ("bot", "app"):
        line = sent[card][-1]
        assert line == ("**Attention:** <at id=ou_lilei000></at> acnt_unknown "
                        "<at email=oncall@example.com></at> Han Meimei"), card


def test_dingtalk_lists_mobiles_and_user_ids_and_names_them_in_the_text(sent):
    body = sent["dingtalk"]
    assert body["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["dt_oncall"],
                          "isAtAll": False}
    assert body["markdown"]["text"].endswith(
        "**Attention:** @13800000000 acnt_unknown @dt_oncall Han Meimei")


def test_wecom_uses_its_userid_tags(sent):
    assert sent["wecom"]["markdown"]["content"].endswith(
        "**Attention:** <@lilei> acnt_unknown <@oncall> Han Meimei")


def test_a_card_of_another_level_mentions_only_its_managers(app_rt, feishu, dingtalk, wecom,
                                                            guance, clock):
    rt = everywhere(app_rt, feishu, dingtalk, wecom, mentions=PEOPLE, level_mentions=LEVELS)
    relay_issue(rt, guance, clock, "Disk 80%", level="system_level_2")
    assert "at" not in dingtalk.for_robot(DING_TOKEN)[0]
    assert "Attention" not in wecom.for_robot(WECOM_KEY)[0]["markdown"]["content"]


@pytest.mark.parametrize("setting, value, message", [
    ("mentions", {"acnt_x": {"slack": "U1"}}, "RELAY_MENTIONS: person 'acnt_x': unknown key"),
    ("mentions", {"acnt_x": "ou_1"}, "RELAY_MENTIONS: person 'acnt_x' must map to an object"),
    ("level_mentions", {"ops": ["a@b"]}, "RELAY_LEVEL_MENTIONS: channel 'ops' must map levels"),
    ("follow_announce", "resolved,fixed", "RELAY_FOLLOW_ANNOUNCE: unknown transition 'fixed'"),
])
def test_a_bad_mapping_stops_start_up_naming_the_setting(clean_env, setting, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(_env_file=None, **{setting: value})


def test_a_change_names_its_managers_from_guance_s_detail(app_rt, guance, clock, open_api):
    """The list gives managers as account UUIDs; the change's issue/get adds their names and
    emails, so an email mapping matches and an unmapped person is shown by name."""
    from tests.follow import cycle

    guance.accounts.update({"acnt_1": {"name": "On-call", "email": "oncall@example.com"},
                            "acnt_2": {"name": "Han Meimei", "email": "han@example.com"}})
    rt = app_rt(mentions=PEOPLE)
    relay_issue(rt, guance, clock, "Checkout down")
    uuid = guance.issues[-1]["uuid"]
    guance.set_status(uuid, 15, managers=["acnt_1", "acnt_2"])
    cycle(rt, clock)
    (_, card) = open_api.updates[-1]
    status = list(card_texts(card))[-1]
    assert "**Owner:** <at email=oncall@example.com></at> Han Meimei" in status
